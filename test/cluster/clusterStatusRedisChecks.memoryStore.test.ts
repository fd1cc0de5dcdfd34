import {describe, expect, it} from 'vitest'
import {clusterStatus} from '../../src/cluster/clusterStatus.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {HELD_WARNING_KEY, UNCHECKED_WARNING_KEY} from '../../src/model/move.js'
import {redisTroubleLines} from '../../src/redis/redisTroubleText.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {moveOf} from '../executor/fixtures.js'

/**
 * `cluster status` on a redis cluster lists the moves' warnings that are not a loss but wait for
 * an operator's check (a slot held open, a restart window nobody could judge), beside the loss
 * warnings, until `moves ack`: `top`'s TROUBLE panel showed them, `cluster status` did not
 * (session 41), so one could wait unseen there. The masters are addresses nothing listens on
 * (connection refused at once): the warnings come from etcd's move records alone.
 */
describe('cluster status (redis): warnings waiting for a check', () => {
  it('Given a held, an unchecked, an acknowledged held and a loss warning, Then --json lists the two open checks apart from the loss, and the text marks them not a loss', async () => {
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'checks'})
    await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:9@a,n2=127.0.0.1:13@b'), force: false})
    const meta = await store.get(ctx.keys.meta)
    await store.put(ctx.keys.meta, JSON.stringify({...JSON.parse(meta!.value), engine: 'redis', redisSeed: '127.0.0.1:9'}))
    const at = '2026-12-05T07:00:00.000Z'
    const held = {key: `${HELD_WARNING_KEY}n1:200`, at, text: 'move p-0: slot 200 is held open', mayHaveLostData: false, node: 'n1'}
    const unchecked = {key: `${UNCHECKED_WARNING_KEY}n2`, at, text: 'move p-1: whether n2 restarted cannot be told', mayHaveLostData: false, node: 'n2'}
    const loss = {key: 'restart:n2:abc', at, text: 'move p-1: n2 restarted without appendonly', mayHaveLostData: true, node: 'n2'}
    await store.put(ctx.keys.move('p-0'), JSON.stringify(moveOf({index: 0, shard: 0, from: 'n1', to: 'n2', phase: 'copying', warnings: [held, {...held, key: `${HELD_WARNING_KEY}n1:201`, acknowledgedAt: at}]})))
    await store.put(ctx.keys.move('p-1'), JSON.stringify(moveOf({index: 1, shard: 1, from: 'n2', to: 'n1', phase: 'done', warnings: [unchecked, loss]})))

    const status = JSON.parse(JSON.stringify(await clusterStatus(ctx)))
    expect(status.redis.checkWarnings).toEqual([
      {move: 'p-0', shard: 0, phase: 'copying', node: 'n1', at, text: held.text, wayOut: expect.stringMatching(/^not a loss: .*`shardctl moves ack p-0`$/)},
      {move: 'p-1', shard: 1, phase: 'done', node: 'n2', at, text: unchecked.text, wayOut: expect.stringMatching(/^not a loss: .*`shardctl moves ack p-1`$/)},
    ])
    expect(status.redis.dataLossWarnings.map((w: {text: string}) => w.text)).toEqual([loss.text])
    expect(status.redis.trouble).toBe(true)
    const lines = redisTroubleLines(status.redis)
    expect(lines.filter((l) => l.includes('not a loss, waiting for a check'))).toEqual([expect.stringContaining(held.text), expect.stringContaining(unchecked.text)])
    expect(lines.some((l) => l.includes(loss.text) && !l.includes('not a loss'))).toBe(true)
  })
})
