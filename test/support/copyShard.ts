import {expect} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {type Shard} from '../../src/model/shard.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {StaticShardMap} from './staticShardMap.js'

/**
 * CopyShardMap is one node's view of the shard node-to-node copy tests move: shard 1, the
 * whole hash space, epoch 5, `src` its voter and `dst` joining. Tests edit `shard` to
 * change epoch or roles; there is no etcd, so refresh returns the same.
 */
export class CopyShardMap extends StaticShardMap {
  constructor(self: string) {
    super(self, [{id: 1, range: {lo: 0, hi: HASH_SPACE}, epoch: 5, replicas: [{node: 'src', role: 'voter'}, {node: 'dst', role: 'joining'}]}])
  }
  get shard(): Shard {
    return this.shards[0]!
  }
  set shard(s: Shard) {
    this.shards = [s]
  }
}

/** settledPull polls the destination `c`'s pull of `shard` (default 1) until it is no longer running and returns its status; throws after `timeoutMs` (default 10 s). */
export async function settledPull(c: NodeClient, shard = 1, timeoutMs = 10_000): Promise<Awaited<ReturnType<NodeClient['pullStatus']>>> {
  for (let i = 0; i < timeoutMs / 10; i++) {
    const s = await c.pullStatus(shard)
    if (s.state !== 'running') return s
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`copy of shard ${shard} did not settle in ${timeoutMs / 1000} s`)
}

/**
 * expectPullPacedByReceiveThrottle sets a node receive throttle of `rate` on destination `dst`,
 * runs `startPull` (a pull of shard 1 into it) and checks the copy finishes no faster than the
 * rate; the throttle is cleared after, pass or fail.
 */
export async function expectPullPacedByReceiveThrottle(dst: NodeClient, rate: number, startPull: () => Promise<unknown>): Promise<void> {
  expect(await dst.setThrottle({receive: rate})).toEqual({send: null, receive: rate})
  try {
    const t0 = performance.now()
    await startPull()
    const s = await settledPull(dst)
    const secs = (performance.now() - t0) / 1000
    expect(s.state).toBe('done')
    // The bucket starts empty after a rate change, so the whole copy is paid at the rate.
    expect(secs).toBeGreaterThanOrEqual((s.bytes / rate) * 0.95)
  } finally {
    await dst.setThrottle({receive: null})
  }
}
