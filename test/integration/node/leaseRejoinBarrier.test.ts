import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {request} from 'node:http'
import {afterEach, describe, expect, it} from 'vitest'
import {encodeRecords} from '../../../src/node/recordCodec.js'
import {RECORDS_CONTENT_TYPE, TOKEN_HEADER} from '../../../src/node/protocol.js'
import {type RangeWriteGate} from '../../../src/node/orphanSweeper.js'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../../src/cluster/serviceContext.js'
import {awaitBarrier} from '../../../src/executor/barrier.js'
import {syncReplicas} from '../../../src/executor/replicaSync.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEnv} from '../../../src/executor/executorEnv.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Replica, type Shard} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {type NodeLog} from '../../../src/node/nodeLog.js'
import {StorageNode, type StorageNodeOptions} from '../../../src/node/storageNode.js'
import {type Gate} from '../../../src/store/memoryFaults.js'
import {MemoryStore} from '../../../src/store/memoryStore.js'

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

const dirs: string[] = []
const nodes: StorageNode[] = []
const clients: NodeClient[] = []
const quiet: NodeLog = {info: () => {}, warn: () => {}, error: () => {}}

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop('test').catch(() => {})))
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})))
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'shardctl-rejoin-'))
  dirs.push(d)
  return d
}

function keyIn(shard: Shard, prefix: string): Buffer {
  for (let i = 0; ; i++) {
    const key = Buffer.from(`${prefix}-${i}`)
    const h = keyHash(key)
    if (h >= shard.range.lo && h < shard.range.hi) return key
  }
}

/** World: a 2-node cluster of one shard at rf 1, moving from n1 to n2, with the executor's steps as plain functions. */
async function world() {
  const shared = new MemoryStore()
  const ctx = makeServiceContext(shared, {cluster: 'rejoin'})
  const ports = {n1: await freePort(), n2: await freePort()}
  await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs(`n1=127.0.0.1:${ports.n1},n2=127.0.0.1:${ports.n2}`), force: false})
  const first = (await listShards(ctx)).shards[0]!.value
  const dataDirs = {n1: newDir(), n2: newDir()}
  const options = (id: 'n1' | 'n2'): StorageNodeOptions => ({id, listenHost: '127.0.0.1', listenPort: ports[id], dataDir: dataDirs[id], statsIntervalMs: 60_000, leaseTtlSeconds: 5, tombstoneGraceMs: 60_000, shutdownTimeoutMs: 1000, synchronous: 'NORMAL', log: quiet})
  /** start runs node `id` on a client of its own (a process of its own on the same etcd). */
  const start = async (id: 'n1' | 'n2'): Promise<StorageNode> => {
    const node = await StorageNode.start(makeServiceContext(shared.connect(), {cluster: 'rejoin'}), options(id))
    nodes.push(node)
    return node
  }
  const token = await loadClusterToken(ctx)
  const client = (id: string) => {
    const c = new NodeClient({node: id, address: `127.0.0.1:${ports[id as 'n1' | 'n2']}`, token, timeoutMs: 5000})
    clients.push(c)
    return c
  }
  const n1 = client('n1')
  const n2 = client('n2')

  /** commit writes the shard at the next epoch with `replicas` (the executor's phase commit) and returns it with the commit's revision. */
  const commit = async (replicas: Replica[]): Promise<{shard: Shard; revision: bigint}> => {
    const cur = (await listShards(ctx)).shards[0]!
    const shard: Shard = {...cur.value, epoch: cur.value.epoch + 1, replicas}
    const revision = await ctx.store.update(ctx.keys.shard(shard.id), JSON.stringify(shard), cur.modRevision)
    return {shard, revision}
  }
  // The executor's barrier, as it runs it (nodes asked over their clients, alive/ and routers/ read from etcd).
  const env = {ctx, client: async (id: string) => (id === 'n1' ? n1 : n2), options: {...DEFAULT_EXECUTOR_OPTIONS, barrierTimeoutMs: 10_000}, now: Date.now, sleep: (ms: number) => new Promise((r) => setTimeout(r, ms)), stopped: () => false} as unknown as ExecutorEnv
  /** step commits a phase and passes its barrier, as the executor does; returns the shard and whether n1 was alive when it passed. */
  const step = async (replicas: Replica[]): Promise<{shard: Shard; n1Alive: boolean}> => {
    const {shard, revision} = await commit(replicas)
    await awaitBarrier(env, shard, revision, ['n1', 'n2'])
    return {shard, n1Alive: (await shared.get(ctx.keys.alive('n1'))) !== undefined}
  }
  /** holdAlive holds n1's next `alive/n1` transaction (its registration) until released. */
  const holdAlive = (): Gate => shared.faults.hold({op: 'txn', key: ctx.keys.alive('n1')})
  /** watchesDown: the shard watches go silent (a half-open stream, one reconnecting with backoff) until the end of the test. */
  const watchesDown = () => shared.dropWatches({prefix: ctx.keys.shardsPrefix, stayDown: true})
  const write = (c: NodeClient, shard: Shard, key: Buffer, value: string) => c.apply(shard.id, shard.epoch, [{key, version: formatHlc({wall: Date.now(), counter: 0, writer: 'test'}), value: Buffer.from(value)}])
  return {shared, ctx, first, start, n1, n2, commit, step, holdAlive, watchesDown, write, ports, token}
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
    const key = keyIn(promoting, 'rejoin')
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
    const key = keyIn(promoting, 'restart')
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
    const key = keyIn(joining, 'slow-body')
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
