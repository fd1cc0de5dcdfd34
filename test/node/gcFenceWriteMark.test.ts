import {afterEach, describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {codeOf, keyIn} from '../support/nodeTestData.js'
import {EditableShardMap} from '../support/staticShardMap.js'

/**
 * A replica answers a gc fence only once it published a write mark covering every commit it
 * holds (NodeApiDeps.coverWrites, WriteMarkPublisher.cover): else a copy of its dir taken after
 * its last publish but before a delete the round then purges would be judged current at its
 * next start and serve the deleted value
 * (test/integration/node/restoredDirUnpublishedPurge.test.ts). When the mark cannot be
 * published (etcd unreachable, the claim lost) the fence is refused and nothing is purged.
 */

const TOKEN = 'gc-fence-mark-token-0123456789'
const HOUR = 3_600_000
const at = (wallMs: number) => formatHlc({wall: Math.floor(wallMs), counter: 0, writer: 'g'})

const nodes: InProcessNode[] = []
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close()
})

/** aNode: a voter of shard 0 (the whole hash space, epoch 1) holding one old tombstone, with `coverWrites`. */
async function aNode(coverWrites: () => Promise<void>) {
  const map = new EditableShardMap()
  map.set({id: 0, range: {lo: 0, hi: HASH_SPACE}, epoch: 1, replicas: [{node: 'me', role: 'voter'}]})
  const node = await startInProcessNode({map, token: TOKEN, tombstoneGraceMs: HOUR, timeoutMs: 5000, dirPrefix: 'shardctl-gc-mark-', coverWrites})
  nodes.push(node)
  await node.client.apply(0, 1, [{key: keyIn(0, HASH_SPACE, 'gone'), version: at(Date.now() - 2 * HOUR), value: null}], 'repair')
  return {node, c: node.client, cutoff: Date.now() - HOUR - 60_000}
}

describe('a gc fence waits for a write mark covering the replica\'s commits', {timeout: 30_000}, () => {
  it('Given a node whose mark publish is slow, When it is fenced, Then the fence is answered only after the publish resolved, and the round then purges', async () => {
    let release!: () => void
    let asked = 0
    const {node, c, cutoff} = await aNode(() => {
      asked++
      return new Promise<void>((r) => (release = r))
    })
    let answered = false
    const fence = c.gcFence(0, 1, cutoff, {pending: true}).then((d) => ((answered = true), d))
    await expect.poll(() => asked).toBe(1)
    await new Promise((r) => setTimeout(r, 200))
    expect(answered).toBe(false)
    release()
    const d = await fence
    await c.gcConfirm(0, 1, cutoff, d.fence!)
    expect((await c.gcPurge(0, 1, cutoff)).purged).toBe(1)
    expect(node.engine.tombstoneCount()).toBe(0)
  })

  it('Given a node that cannot publish its mark, When it is fenced, Then the fence is refused (PRECONDITION, naming why) and the tombstone stays', async () => {
    const {node, c, cutoff} = await aNode(() => Promise.reject(new Error('etcd unreachable')))
    await expect(c.gcFence(0, 1, cutoff, {pending: true})).rejects.toThrow(/could not publish a write mark covering its commits \(etcd unreachable\)/)
    expect(await codeOf(c.gcFence(0, 1, cutoff, {pending: true}))).toBe('PRECONDITION')
    // No fence was answered, so no confirm and no purge can follow.
    expect(await codeOf(c.gcPurge(0, 1, cutoff))).toBe('PRECONDITION')
    expect(node.engine.tombstoneCount()).toBe(1)
  })
})
