import {request} from 'node:http'
import {describe, expect, it} from 'vitest'
import {encodeRecords} from '../../../src/node/recordCodec.js'
import {RECORDS_CONTENT_TYPE, TOKEN_HEADER} from '../../../src/node/protocol.js'
import {type RangeWriteGate} from '../../../src/node/orphanSweeper.js'
import {makeServiceContext} from '../../../src/cluster/serviceContext.js'
import {syncReplicas} from '../../../src/executor/replicaSync.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {type Gate} from '../../../src/store/memoryFaults.js'
import {MemoryStore} from '../../../src/store/memoryStore.js'
import {type Shard} from '../../../src/model/shard.js'
import {type StorageNode} from '../../../src/node/storageNode.js'
import {keyInShard, useStorageNodePairs} from '../../support/storageNodePair.js'

/**
 * A node that (re-)registers serves on the shard map it listed; the executor's barrier skips a
 * node without `alive/<id>` (docs/moves.md: entries on no lease never block). So a barrier that
 * ran after the node listed the map and before it published `alive/<id>` passed without it,
 * and, its shard watch behind (the etcd trouble that cost it its lease, or a watch not yet
 * attached), it served on that older map: a router also on it (one whose lease lapsed too,
 * serving unregistered on its re-read map: src/router/lapsedServing.ts) was answered at an
 * epoch the move counted every live replica past. Here, at rf 1: the source of a move, still
 * the only voter in the map it listed (`promoting`), serves a read at that epoch after the
 * cutover and the release passed their barriers without it and the destination acknowledged
 * a newer value: a stale read (and the source is `leaving`: what it takes at that epoch
 * nobody reads again).
 *
 * In-process nodes on one MemoryStore state (each its own client), which holds the node's
 * `alive/<id>` transaction and keeps the shard watches down on cue; the barrier is the
 * executor's own (awaitBarrier) over real node clients.
 *
 * Can fail: before the fix (a node publishing `alive/<id>` after its map listing, and serving
 * on that listing) both cases read back the old value at the old epoch ("read v1 at epoch 2").
 * With the shard watches left up, that build passed both: its watch delivered the changes
 * before the held publish was answered, so the hole needs a watch behind, as here.
 */

const pair = useStorageNodePairs()

/** World: a 2-node cluster of one shard at rf 1, moving from n1 to n2 (test/support/storageNodePair.ts), on one MemoryStore state, with what these cases add. */
async function world() {
  const shared = new MemoryStore()
  const ctx = makeServiceContext(shared, {cluster: 'rejoin'})
  const p = await pair({ctx, nodeCtx: () => makeServiceContext(shared.connect(), {cluster: 'rejoin'}), dirPrefix: 'shardctl-rejoin-', clientTimeoutMs: 5000})
  /** holdAlive holds n1's next `alive/n1` transaction (its registration) until released. */
  const holdAlive = (): Gate => shared.faults.hold({op: 'txn', key: ctx.keys.alive('n1')})
  /** watchesDown: the shard watches go silent (a half-open stream, one reconnecting with backoff) until the end of the test. */
  const watchesDown = () => shared.dropWatches({prefix: ctx.keys.shardsPrefix, stayDown: true})
  const write = (c: NodeClient, shard: Shard, key: Buffer, value: string) => c.apply(shard.id, shard.epoch, [{key, version: formatHlc({wall: Date.now(), counter: 0, writer: 'test'}), value: Buffer.from(value)}])
  return {...p, shared, holdAlive, watchesDown, write}
}

/** moveToPromoting puts the shard where a move n1 → n2 is after its copy: n1 the only voter (reads go to it), n2 joining (joint writes). */
async function moveToPromoting(w: Awaited<ReturnType<typeof world>>): Promise<Shard> {
  return (await w.commit([{node: 'n1', role: 'voter'}, {node: 'n2', role: 'joining'}])).shard
}

/** cutoverAndRelease runs the move's cutover and release (each a commit and its barrier) and returns the released shard; both barriers must pass without n1. */
async function cutoverAndRelease(w: Awaited<ReturnType<typeof world>>): Promise<Shard> {
  const cutover = await w.step([{node: 'n2', role: 'voter'}, {node: 'n1', role: 'outgoing'}])
  const release = await w.step([{node: 'n2', role: 'voter'}, {node: 'n1', role: 'leaving'}])
  // The premise: the barriers passed while n1 had no alive/n1 (it was not asked).
  expect([cutover.n1Alive, release.n1Alive]).toEqual([false, false])
  return release.shard
}

async function waitServing(node: StorageNode): Promise<void> {
  for (const until = Date.now() + 20_000; !node.serving(); ) {
    if (Date.now() > until) throw new Error('the node did not serve again within 20 s')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** readAtOldEpoch is a read of `key` by a router still on `stale` (it reads from the voters there: n1): the value, or the refusal's code. */
async function readAtOldEpoch(w: Awaited<ReturnType<typeof world>>, stale: Shard, key: Buffer): Promise<string> {
  try {
    const got = await w.n1.get(stale.id, stale.epoch, key)
    return `read ${got.record?.value?.toString() ?? 'absent'} at epoch ${got.epoch}`
  } catch (err) {
    return (err as {code?: string}).code ?? String(err)
  }
}

describe('a node registering while a move passes its barriers without it', () => {
  it('Given the source of a move (rf 1) re-registering after its lease lapsed, its shard watch down, When the cutover and release pass their barriers while its alive/<id> publish is on its way (a build before session 38 had listed the map by then) and the destination acknowledges a newer value, Then the source refuses a read at its old epoch (no stale read)', async () => {
    const w = await world()
    const n1 = await w.start('n1')
    await w.start('n2')
    const promoting = await moveToPromoting(w)
    const key = keyInShard(promoting, 'rejoin')
    // Acknowledged at the joint quorum of `promoting`: on both.
    await w.write(w.n1, promoting, key, 'v1')
    await w.write(w.n2, promoting, key, 'v1')

    // n1 loses its lease; its re-registration is held at its alive/n1 transaction.
    const held = w.holdAlive()
    const alive = (await w.shared.get(w.ctx.keys.alive('n1')))!
    w.shared.expireLease(alive.lease)
    await held.reached
    expect(n1.serving()).toBe(false)
    w.watchesDown()

    const released = await cutoverAndRelease(w)
    // At release the destination alone takes writes: v2 is acknowledged there.
    await w.write(w.n2, released, key, 'v2')

    held.release()
    await waitServing(n1)
    // A router still on `promoting` reads from n1. Before the fix: "read v1 at epoch <promoting>".
    expect(await readAtOldEpoch(w, promoting, key)).toBe('STALE_EPOCH')
    expect((await w.n2.get(released.id, released.epoch, key)).record?.value?.toString()).toBe('v2')
  }, 40_000)

  it('Given the source of a move (rf 1) restarting (its first registration), its shard watch down, When the cutover and release pass their barriers while its alive/<id> publish is on its way (a build before session 38 had listed the map by then) and the destination acknowledges a newer value, Then the source refuses a read at its old epoch (no stale read)', async () => {
    const w = await world()
    const before = await w.start('n1')
    await w.start('n2')
    const promoting = await moveToPromoting(w)
    const key = keyInShard(promoting, 'restart')
    await w.write(w.n1, promoting, key, 'v1')
    await w.write(w.n2, promoting, key, 'v1')
    await before.stop('restart')

    // n1 starts again on its dir; its first registration is held at its alive/n1 transaction.
    const held = w.holdAlive()
    const starting = w.start('n1')
    starting.catch(() => {})
    await held.reached
    w.watchesDown()

    const released = await cutoverAndRelease(w)
    await w.write(w.n2, released, key, 'v2')

    held.release()
    const n1 = await starting
    expect(n1.serving()).toBe(true)
    expect(await readAtOldEpoch(w, promoting, key)).toBe('STALE_EPOCH')
  }, 40_000)
})

/**
 * sendSlowly sends an apply of `records` to node `port` at `epoch` whose body stops after its
 * first byte (a large batch on a slow link): the node checks `serving` and the epoch when the
 * headers come in, and admits the write once the body is in. `finish` sends the rest; the
 * answer is 'acknowledged' or the refusal's code.
 */
function sendSlowly(port: number, token: string, shard: Shard, key: Buffer, value: string): {finish: () => void; answer: Promise<string>} {
  const body = encodeRecords([{key, version: formatHlc({wall: Date.now(), counter: 0, writer: 'test'}), value: Buffer.from(value)}])
  let finish!: () => void
  const answer = new Promise<string>((resolve, reject) => {
    const req = request({host: '127.0.0.1', port, method: 'POST', path: `/v1/shards/${shard.id}/apply?epoch=${shard.epoch}&kind=write`, headers: {[TOKEN_HEADER]: token, 'content-type': RECORDS_CONTENT_TYPE, 'content-length': body.length}}, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve(res.statusCode === 200 ? 'acknowledged' : ((JSON.parse(text) as {code?: string}).code ?? `status ${res.statusCode}`)))
    })
    req.on('error', reject)
    req.write(body.subarray(0, 1))
    finish = () => req.end(body.subarray(1))
  })
  return {finish, answer}
}

async function until(what: string, done: () => boolean): Promise<void> {
  for (const end = Date.now() + 20_000; !done(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > end) throw new Error(`${what}: not within 20 s`)
  }
}

/**
 * A write's checks on its headers (serving, epoch) run before its body is read, and the
 * registration after a lapsed lease waits only for the writes admitted by then (before its
 * alive/<id>). A write whose body came in during the re-registration was admitted after that
 * wait and fenced on the map the node had, its watch behind a change a barrier passed
 * without it; held before its commit (an orphan sweep's range gate: nothing a digest waits
 * for) it committed once the node served again, lease held, and was acknowledged at the old
 * epoch. Can fail: before the fix (session 38, huntr) the write below was acknowledged at the
 * joining epoch after the verification found both sides equal, and the destination lacked it
 * after the cutover ("acknowledged; verification equal: true; destination holds nothing"),
 * with the registration's order of c5410a9 and with the one before it alike.
 */
describe('a write a node takes in while it re-registers', () => {
  it('Given the source of a move (rf 1) at the joining epoch, a write to it past its checks on the headers and still receiving its body when its lease lapses, When the promotion passes its barrier without it, the body arrives during its re-registration (its shard watch down) and the write waits before its commit (an orphan sweep\'s range gate), and the verification compares the source with the destination once the source serves again, Then the source does not acknowledge that write (else it is on the source alone after the verification passed: lost at cleanup)', async () => {
    const w = await world()
    const n1 = await w.start('n1')
    await w.start('n2')
    // joining: n1 the only voter, n2 learning (a write is acknowledged by n1 alone).
    const joining = (await w.step([{node: 'n1', role: 'voter'}, {node: 'n2', role: 'learning'}])).shard
    const key = keyInShard(joining, 'slow-body')
    const since = Date.now()
    const internals = n1 as unknown as {api: {inflightFor(id: number): number; deps: {rangeGate: RangeWriteGate}; writes: {open: Set<{range?: unknown}>}}}
    const api = internals.api
    let openGate!: () => void
    const sweep = api.deps.rangeGate.during(joining.range, () => new Promise<void>((r) => (openGate = r)))

    const write = sendSlowly(w.ports.n1, w.token, joining, key, 'w')
    await until('the write passed its checks on the headers', () => api.inflightFor(joining.id) === 1)

    // n1 loses its lease; its re-registration is held at its alive/n1 transaction, after it waited for the writes it had let in (none yet).
    const held = w.holdAlive()
    const alive = (await w.shared.get(w.ctx.keys.alive('n1')))!
    w.shared.expireLease(alive.lease)
    await held.reached
    w.watchesDown()
    // The promotion (E+2: from here a write needs the destination too) passes its barrier without n1.
    const promoted = await w.step([{node: 'n1', role: 'voter'}, {node: 'n2', role: 'joining'}])
    expect(promoted.n1Alive).toBe(false)

    // The body arrives: the write is admitted on the map n1 had (joining), or refused.
    let answered: string | undefined
    void write.answer.then((a) => (answered = a))
    write.finish()
    await until('the write was fenced or answered', () => answered !== undefined || [...api.writes.open].some((e) => e.range !== undefined))
    held.release()
    await waitServing(n1)

    // The verification (after the E+2 barrier): the destination compared with the source.
    const verified = await syncReplicas(w.n2, w.n1, joining.id, promoted.shard.epoch, since)
    openGate()
    await sweep
    const outcome = await write.answer
    // The cutover: reads go to the destination alone.
    const cutover = (await w.step([{node: 'n2', role: 'voter'}, {node: 'n1', role: 'outgoing'}])).shard
    const onDestination = (await w.n2.get(cutover.id, cutover.epoch, key)).record?.value?.toString()
    expect(`${outcome}; verification equal: ${verified.equal}; destination holds ${onDestination ?? 'nothing'}`).not.toBe('acknowledged; verification equal: true; destination holds nothing')
    expect(outcome).toBe('NOT_SERVING')
  }, 40_000)
})
