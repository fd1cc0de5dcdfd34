import {afterAll, describe, expect, inject, it} from 'vitest'
import {makeServiceContext} from '../../../src/cluster/serviceContext.js'
import {syncReplicas} from '../../../src/executor/replicaSync.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type RangeWriteGate} from '../../../src/node/orphanSweeper.js'
import {keyInShard, useStorageNodePairs} from '../../support/storageNodePair.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

/**
 * `alive/<id>` deleted under a lease the node still holds (`etcdctl del alive/<id>`): the
 * executor's barrier skips a node without it (docs/moves.md), so a node that serves on takes
 * writes at an epoch a move counted every live replica past. Here, at rf 1, on real etcd with
 * in-process nodes (each its own etcd client, as two processes) and the executor's own barrier
 * and verification: a write to the source at the joining epoch, admitted (past its fence)
 * before the promotion and held before its commit (an orphan sweep's range gate), commits
 * after the promotion's barrier skipped the source and after the verification compared both
 * sides equal: acknowledged on the source alone, lost at the cutover.
 *
 * Can fail: before the fix (session 39: a serving node ignored a delete of its own alive/<id>)
 * the write was acknowledged, the verification equal and the destination held nothing after the
 * cutover ("acknowledged; verification equal; destination holds nothing"). With it the node
 * stops serving as soon as its watch sees the delete: the verification waits (NOT_SERVING), the
 * write is answered NOT_SERVING, and the node re-registers once it finished (the verification
 * then carries it over). The one window left is the watch's delay (a barrier and a digest read
 * between the delete and the node seeing it): the test waits for the node to see it, bounded.
 */

const stores = new StoreSet()
const pair = useStorageNodePairs()
afterAll(() => stores.closeAll())

/** until polls `done` every 10 ms for at most `ms`: whether it came true (`what` names it for the reader). */
async function until(_what: string, done: () => boolean, ms = 20_000): Promise<boolean> {
  for (const end = Date.now() + ms; !done(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > end) return false
  }
  return true
}

/** World: a 2-node cluster of one shard at rf 1 on real etcd, moving from n1 to n2 (test/support/storageNodePair.ts), each node its own etcd client. */
async function world() {
  const endpoint = inject('etcdEndpoint')
  const cluster = uniqueCluster('alive-del')
  const ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  return pair({ctx, nodeCtx: () => makeServiceContext(stores.open(endpoint, cluster), {cluster}), dirPrefix: 'shardctl-alive-del-', clientTimeoutMs: 10_000})
}

describe('a node whose alive/<id> is deleted under its live lease', () => {
  it('Given the source of a move (rf 1) at the joining epoch with a write past its fence and held before its commit, When alive/<id> is deleted (etcdctl del), the promotion passes its barrier without the source and the verification compares both sides, Then the write is not acknowledged on the source alone (else lost at the cutover)', async () => {
    const w = await world()
    const n1 = await w.start('n1')
    await w.start('n2')
    const joining = (await w.step([{node: 'n1', role: 'voter'}, {node: 'n2', role: 'learning'}])).shard
    const key = keyInShard(joining, 'alive-del')
    const since = Date.now()
    const api = (n1 as unknown as {api: {deps: {rangeGate: RangeWriteGate}; writes: {open: Set<{range?: unknown}>}}}).api
    let openGate!: () => void
    const sweep = api.deps.rangeGate.during(joining.range, () => new Promise<void>((r) => (openGate = r)))

    // A client write at the joining epoch (acknowledged by n1 alone there), admitted and held before its commit.
    let answered: string | undefined
    const write = w.n1
      .apply(joining.id, joining.epoch, [{key, version: formatHlc({wall: Date.now(), counter: 0, writer: 'test'}), value: Buffer.from('w')}])
      .then(
        () => 'acknowledged',
        (err: {code?: string}) => err.code ?? String(err),
      )
    void write.then((a) => (answered = a))
    expect(await until('the write was admitted past its fence', () => answered !== undefined || [...api.writes.open].some((e) => e.range !== undefined))).toBe(true)
    expect(answered).toBeUndefined()

    // An operator deletes alive/n1; n1's lease lives on. Bounded wait for n1 to see it (a build before the fix never stops serving).
    await w.ctx.store.delete(w.ctx.keys.alive('n1'))
    await until('n1 saw its alive key deleted', () => !n1.serving(), 2000)

    // The promotion (from here a write needs the destination too) passes its barrier without n1.
    const promoted = await w.step([{node: 'n1', role: 'voter'}, {node: 'n2', role: 'joining'}])
    expect(promoted.n1Alive).toBe(false)

    // The verification while the write is held: equal (it has not committed), or refused while n1 does not serve.
    const first = await syncReplicas(w.n2, w.n1, joining.id, promoted.shard.epoch, since).then(
      (r) => (r.equal ? 'equal' : 'repaired'),
      (err: {code?: string}) => err.code ?? String(err),
    )
    openGate()
    await sweep
    const outcome = await write
    // A verification that could not run runs again once n1 serves (the executor retries it).
    if (first !== 'equal' && first !== 'repaired') {
      expect(await until('n1 serves again', () => n1.serving())).toBe(true)
      await syncReplicas(w.n2, w.n1, joining.id, promoted.shard.epoch, since)
    }
    // The cutover: reads go to the destination alone.
    const cutover = (await w.step([{node: 'n2', role: 'voter'}, {node: 'n1', role: 'outgoing'}])).shard
    const onDestination = (await w.n2.get(cutover.id, cutover.epoch, key)).record?.value?.toString()
    expect(`${outcome}; verification ${first}; destination holds ${onDestination ?? 'nothing'}`).not.toMatch(/^acknowledged; .*destination holds nothing$/)
    expect(outcome).toBe('NOT_SERVING')
    // And n1 registered again: serving, alive/n1 back.
    expect(await until('n1 serves again', () => n1.serving())).toBe(true)
    expect(await w.ctx.store.get(w.ctx.keys.alive('n1'))).toBeDefined()
  }, 60_000)
})
