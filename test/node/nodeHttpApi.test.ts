import {createServer, request} from 'node:http'
import {type AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {freePort} from '../../src/localEtcd/freePort.js'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {LoadMeter} from '../../src/node/loadMeter.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {RangeWriteGate} from '../../src/node/orphanSweeper.js'
import {NodeClient} from '../../src/node/nodeClient.js'
import {NodeClients} from '../../src/node/nodeClients.js'
import {isNodeRequestError} from '../../src/node/nodeRequestError.js'
import {TOKEN_HEADER} from '../../src/node/protocol.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {codeOf, keyIn} from '../support/nodeTestData.js'
import {EditableShardMap} from '../support/staticShardMap.js'

const TOKEN = 'unit-test-token-0123456789'

const map = new EditableShardMap()
let node: InProcessNode
let client: NodeClient
let serving = true
const half = HASH_SPACE / 2
const v = (n: number) => formatHlc({wall: Date.now() + n, counter: 0, writer: 'u'})

beforeAll(async () => {
  map.set({id: 0, range: {lo: 0, hi: half}, epoch: 3, replicas: [{node: 'me', role: 'voter'}]})
  map.set({id: 1, range: {lo: half, hi: HASH_SPACE}, epoch: 1, replicas: [{node: 'other', role: 'voter'}]})
  node = await startInProcessNode({map, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 3000, dirPrefix: 'shardctl-api-', serving: () => serving})
  client = node.client
})

afterAll(() => node.close())

describe('NodeHttpApi through NodeClient', {timeout: 30_000}, () => {
  it('given a voter shard, when writing and reading at its epoch, then records round-trip', async () => {
    const key = keyIn(0, half, 'a')
    expect(await client.apply(0, 3, [{key, version: v(1), value: Buffer.from('x')}])).toEqual({epoch: 3, applied: 1, ignored: 0, superseded: []})
    expect((await client.get(0, 3, key)).record?.value?.toString()).toBe('x')
    expect(await codeOf(client.get(0, 3, keyIn(half, HASH_SPACE, 'z')))).toBe('BAD_INPUT')
  })

  it('given an older epoch, when requesting, then STALE_EPOCH carries the node epoch and is retriable', async () => {
    const err = await client.get(0, 2, keyIn(0, half, 'b')).catch((e: unknown) => e)
    expect(isNodeRequestError(err, 'STALE_EPOCH')).toBe(true)
    if (isNodeRequestError(err)) {
      expect(err.nodeEpoch).toBe(3)
      expect(err.retriable).toBe(true)
      expect(err.status).toBe(409)
    }
  })

  it('given a newer epoch than the node knows, when requesting, then the node re-reads the shard first and serves', async () => {
    map.set({id: 0, range: {lo: 0, hi: half}, epoch: 4, replicas: [{node: 'me', role: 'voter'}]}, {lagging: true})
    const before = map.refreshes
    expect(await codeOf(client.digest(0, 4))).toBe('ok')
    expect(map.refreshes).toBe(before + 1)
    expect(await codeOf(client.digest(0, 9))).toBe('BAD_INPUT')
  })

  it('given a split the node saw only the child of, when a stale router writes the parent at its old epoch, then the node confirms the parent and answers STALE_EPOCH', async () => {
    const quarter = half / 2
    // etcd: shard 0 split at `quarter` (epoch 5, lower half) and child 9 (epoch 5, upper half).
    map.set({id: 0, range: {lo: 0, hi: quarter}, epoch: 5, replicas: [{node: 'me', role: 'voter'}]}, {lagging: true})
    map.set({id: 9, range: {lo: quarter, hi: half}, epoch: 5, replicas: [{node: 'me', role: 'voter'}]}, {lagging: true})
    // The node learns of the child (e.g. a barrier's accept for a move of it) but still holds the parent at epoch 4.
    await client.accept(9, 5)
    expect(map.get(0)!.epoch).toBe(4)
    const childKey = keyIn(quarter, half, 'split')
    const err = await client.apply(0, 4, [{key: childKey, version: v(1), value: Buffer.from('stale-router')}]).catch((e: unknown) => e)
    expect(isNodeRequestError(err, 'STALE_EPOCH')).toBe(true)
    expect(map.get(0)!.epoch).toBe(5)
    // Through the child, at its epoch, the write is taken.
    expect(await codeOf(client.apply(9, 5, [{key: childKey, version: v(2), value: Buffer.from('ok')}]))).toBe('ok')
    // Undo for the tests below: shard 0 back to the whole lower half, the child gone.
    map.etcd.delete(9)
    map.local.delete(9)
    map.set({id: 0, range: {lo: 0, hi: half}, epoch: 4, replicas: [{node: 'me', role: 'voter'}]})
  })

  it('given roles, when requests need another role, then NOT_OWNER (not STALE_EPOCH) answers', async () => {
    expect(await codeOf(client.get(1, 1, keyIn(half, HASH_SPACE, 'c')))).toBe('NOT_OWNER')
    expect(await codeOf(client.get(7, 1, Buffer.from('x')))).toBe('NOT_OWNER')
    map.set({id: 1, range: {lo: half, hi: HASH_SPACE}, epoch: 2, replicas: [{node: 'other', role: 'voter'}, {node: 'me', role: 'leaving'}]})
    expect(await codeOf(client.apply(1, 2, [{key: keyIn(half, HASH_SPACE, 'd'), version: v(1), value: Buffer.from('x')}]))).toBe('NOT_OWNER')
    expect(await codeOf(client.digest(1, 2))).toBe('ok')
    expect(await client.drop(1, 2)).toMatchObject({deleted: 0})
    expect(await codeOf(client.drop(0, 4))).toBe('PRECONDITION')
  })

  it('given a node that is not serving, when requesting, then NOT_SERVING (503, retriable) answers but health works', async () => {
    serving = false
    try {
      expect(await codeOf(client.digest(0, 4))).toBe('NOT_SERVING')
      expect((await client.health()).serving).toBe(false)
    } finally {
      serving = true
    }
  })

  it('given a sender that dialled this node at an address its records give another node (a port 0 restart took a stopped node\'s port), when it writes, then NOT_SERVING answers and nothing is written', async () => {
    const misdirected = new NodeClient({node: 'other', address: `127.0.0.1:${node.port}`, token: TOKEN, timeoutMs: 3000})
    try {
      const key = keyIn(0, half, 'misdirected')
      const err = await misdirected.apply(0, 4, [{key, version: v(1), value: Buffer.from('for other')}]).catch((e: unknown) => e)
      expect(isNodeRequestError(err, 'NOT_SERVING')).toBe(true)
      expect((err as Error).message).toMatch(/this is node me, not other/)
      expect((await client.get(0, 4, key)).record).toBeUndefined()
      // Its health probe (no token, names the node) still answers: identity checks read it.
      expect((await misdirected.health()).node).toBe('me')
    } finally {
      await misdirected.destroy()
    }
  })

  it('given etcd unreachable, when a request needs the node to confirm a newer epoch, then NOT_SERVING (retriable) answers', async () => {
    map.etcdDown = true
    try {
      expect(await codeOf(client.digest(0, 5))).toBe('NOT_SERVING')
      expect(await codeOf(client.digest(0, 4))).toBe('ok')
    } finally {
      map.etcdDown = false
    }
  })

  it('given nothing listening, when requesting, then NODE_UNREACHABLE comes quickly', async () => {
    const dead = new NodeClient({node: 'dead', address: `127.0.0.1:${await freePort()}`, token: TOKEN, timeoutMs: 1000})
    expect(await codeOf(dead.stats())).toBe('NODE_UNREACHABLE')
    await dead.destroy()
  })

  it('given a server that never answers, when requesting, then the client times out instead of hanging', async () => {
    const silent = createServer(() => {})
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    const c = new NodeClient({node: 'silent', address: `127.0.0.1:${(silent.address() as AddressInfo).port}`, token: TOKEN, timeoutMs: 300})
    const err = await c.stats().catch((e: unknown) => e)
    // The client's own timeout fired (not the test's): the error says so.
    expect(isNodeRequestError(err, 'NODE_UNREACHABLE')).toBe(true)
    expect((err as Error).message).toMatch(/timed out/)
    await c.destroy()
    silent.closeAllConnections()
    await new Promise((r) => silent.close(r))
  })

  it('given pools per node, when a node leaves the set, then its pool is drained and later calls get a fresh one', async () => {
    const port = node.port
    const pools = new NodeClients({token: TOKEN})
    const a = pools.client({id: 'me', address: `127.0.0.1:${port}`})
    expect(pools.client({id: 'me', address: `127.0.0.1:${port}`})).toBe(a)
    expect((await a.health()).node).toBe('me')
    expect(pools.retain(new Set())).toEqual(['me'])
    const b = pools.client({id: 'me', address: `127.0.0.1:${port}`})
    expect(b).not.toBe(a)
    expect((await b.health()).node).toBe('me')
    await pools.close()
  })

  it('given stats, when asked, then held shards come with role, epoch and in-flight counts', async () => {
    const st = await client.stats()
    expect(st.shards.map((s) => [s.shard, s.role])).toEqual([
      [0, 'voter'],
      [1, 'leaving'],
    ])
    expect(st.shards[0]!.keys).toBeGreaterThanOrEqual(1)
    expect((await client.inflight(0)).inflight).toBe(0)
  })
})

describe('NodeHttpApi tombstone gc', {timeout: 30_000}, () => {
  const HOUR = 3_600_000
  const at = (wallMs: number) => formatHlc({wall: Math.floor(wallMs), counter: 0, writer: 'g'})

  it('given client writes older than the grace, when applied, then they are refused whole (values and deletes) and nothing is written; repair tombstones that old are stored', async () => {
    map.set({id: 5, range: {lo: 0, hi: half}, epoch: 1, replicas: [{node: 'me', role: 'voter'}]})
    const key = keyIn(0, half, 'stale')
    const old = Date.now() - 2 * HOUR
    expect(await codeOf(client.apply(5, 1, [{key, version: at(old), value: Buffer.from('late')}]))).toBe('PRECONDITION')
    expect(await codeOf(client.apply(5, 1, [{key: keyIn(0, half, 'fresh'), version: at(Date.now()), value: null}, {key, version: at(old), value: null}]))).toBe('PRECONDITION')
    expect((await client.get(5, 1, key)).record).toBeUndefined()
    expect((await client.get(5, 1, keyIn(0, half, 'fresh'))).record).toBeUndefined()
    expect(await client.apply(5, 1, [{key, version: at(old), value: null}], 'repair')).toMatchObject({applied: 1})
    expect((await client.get(5, 1, key)).record?.value).toBeNull()
  })

  it('given a cutoff newer than the node allows, when digesting, then the node answers with its own older cutoff; without one, no cutoff is applied', async () => {
    const d = await client.digest(5, 1, {tombstonesBefore: Date.now()})
    expect(d.tombstonesBefore).toBeLessThanOrEqual(Date.now() - HOUR)
    expect(d.tombstonesBefore).toBeGreaterThan(Date.now() - HOUR - 60_000)
    expect((await client.digest(5, 1)).tombstonesBefore).toBeUndefined()
    // The tombstone from 2 h ago counts without a cutoff and not below the node's.
    const all = (await client.digest(5, 1)).counts.reduce((a, b) => a + b, 0)
    expect(d.counts.reduce((a, b) => a + b, 0)).toBe(all - 1)
  })

  it('given the gc phases, when purging out of order or too recent, then PRECONDITION; fenced, then old repair values are dropped and purge deletes the old tombstones', async () => {
    const cutoff = Date.now() - HOUR - 60_000
    expect(await codeOf(client.gcFence(5, 1, Date.now()))).toBe('PRECONDITION')
    expect(await codeOf(client.gcPurge(5, 1, cutoff))).toBe('PRECONDITION')
    expect(await codeOf(client.gcFence(5, 0 + 2, cutoff))).toBe('BAD_INPUT')
    const fenced = await client.gcFence(5, 1, cutoff)
    expect(fenced.tombstonesBefore).toBe(cutoff)
    const shadowed = keyIn(0, half, 'shadowed')
    expect(await client.apply(5, 1, [{key: shadowed, version: at(cutoff - 1000), value: Buffer.from('back')}], 'repair')).toMatchObject({applied: 0})
    expect((await client.get(5, 1, shadowed)).record).toBeUndefined()
    expect(await codeOf(client.gcPurge(5, 1, cutoff + 1))).toBe('PRECONDITION')
    expect(await client.gcPurge(5, 1, cutoff)).toEqual({shard: 5, epoch: 1, purged: 1})
    expect((await client.get(5, 1, keyIn(0, half, 'stale'))).record).toBeUndefined()
    expect(await client.gcPurge(5, 1, cutoff)).toEqual({shard: 5, epoch: 1, purged: 0})
  })

  it('given a pending fence, then it carries an id and raises no floor (an older repair value is taken, a purge above the floor refused); that value voids it (confirm PRECONDITION); a fence confirmed while held is the floor, and the purge goes', async () => {
    const cutoff = Date.now() - HOUR - 30_000
    const pending = await client.gcFence(5, 1, cutoff, {pending: true})
    expect(pending.fence).toEqual(expect.any(Number))
    expect(await codeOf(client.gcPurge(5, 1, cutoff))).toBe('PRECONDITION')
    const raced = keyIn(0, half, 'raced')
    expect(await client.apply(5, 1, [{key: raced, version: at(cutoff - 1000), value: Buffer.from('raced')}], 'repair')).toMatchObject({applied: 1})
    expect(await codeOf(client.gcConfirm(5, 1, cutoff, pending.fence!))).toBe('PRECONDITION')
    expect(await codeOf(client.gcPurge(5, 1, cutoff))).toBe('PRECONDITION')
    const again = await client.gcFence(5, 1, cutoff, {pending: true})
    expect(await client.gcConfirm(5, 1, cutoff, again.fence!)).toEqual({shard: 5, epoch: 1, confirmed: cutoff})
    expect(await client.apply(5, 1, [{key: keyIn(0, half, 'late'), version: at(cutoff - 1000), value: Buffer.from('late')}], 'repair')).toMatchObject({applied: 0})
    expect(await client.gcPurge(5, 1, cutoff)).toEqual({shard: 5, epoch: 1, purged: 0})
  })
})

describe('NodeHttpApi replays (hinted handoff, replay=1)', {timeout: 30_000}, () => {
  const replayMap = new EditableShardMap()
  // The meter's clock is the test's: a tick at +1 s closes one window.
  const meter = new LoadMeter(0, 10_000)
  let replayNode: InProcessNode
  let c: NodeClient
  const rec = (prefix: string, n: number) => ({key: keyIn(0, half, prefix), version: v(n), value: Buffer.from(`${prefix}-value`)})

  beforeAll(async () => {
    replayMap.set({id: 0, range: {lo: 0, hi: HASH_SPACE}, epoch: 2, replicas: [{node: 'me', role: 'voter'}]})
    replayNode = await startInProcessNode({map: replayMap, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 3000, dirPrefix: 'shardctl-replay-', meter})
    c = replayNode.client
  })
  afterAll(() => replayNode?.close())

  it('given replayed writes, when applied, then they are stored and acknowledged like writes but not counted as client writes; plain writes are', async () => {
    const replayed = [rec('replay-a', 1), rec('replay-b', 2), rec('replay-c', 3)]
    expect(await c.apply(0, 2, replayed, 'write', {replay: true})).toEqual({epoch: 2, applied: 3, ignored: 0, superseded: []})
    // Applied again (a second delivery of the same hint): the same LWW merge keeps what is there.
    expect(await c.apply(0, 2, replayed, 'write', {replay: true})).toMatchObject({applied: 0, ignored: 3})
    meter.tick(1000)
    expect(meter.rate(0).writes).toBe(0)
    expect(meter.keySample(0)).toBeUndefined()

    await c.apply(0, 2, [rec('plain-a', 4), rec('plain-b', 5)], 'write')
    meter.tick(2000)
    expect(meter.rate(0).writes).toBeGreaterThan(0)
    expect(meter.keySample(0)).toHaveLength(2)
    expect((await c.stats()).shards.find((s) => s.shard === 0)?.writes).toBe(meter.rate(0).writes)
    // (Read after the last tick: reads are sampled by key too.)
    for (const r of replayed) expect((await c.get(0, 2, r.key)).record).toEqual(r)
  })

  it('given replayed tombstones (a hint batch can hold thousands), then the answer carries no deletePriors, which no router reads for a replay; a client delete gets its own', async () => {
    const live = rec('replay-del', 7)
    await c.apply(0, 2, [live], 'write')
    expect(await c.apply(0, 2, [{...live, version: v(8), value: null}], 'write', {replay: true})).toEqual({epoch: 2, applied: 1, ignored: 0, superseded: []})
    expect((await c.apply(0, 2, [{key: keyIn(0, half, 'client-del'), version: v(9), value: null}], 'write')).deletePriors).toEqual([{i: 0, live: false}])
  })

  it('given a replay, then it is fenced and screened exactly like a write: stale epoch, a version past the grace', async () => {
    expect(await codeOf(c.apply(0, 1, [rec('fenced', 6)], 'write', {replay: true}))).toBe('STALE_EPOCH')
    const old = formatHlc({wall: Date.now() - 2 * 3_600_000, counter: 0, writer: 'u'})
    expect(await codeOf(c.apply(0, 2, [{key: keyIn(0, half, 'too-old'), version: old, value: Buffer.from('x')}], 'write', {replay: true}))).toBe('PRECONDITION')
  })

  it('given a replay flag that is neither 0 nor 1, then BAD_INPUT names the parameter and nothing is applied', async () => {
    const res = await fetch(`http://127.0.0.1:${replayNode.port}/v1/shards/0/apply?epoch=2&kind=write&replay=yes`, {method: 'POST', headers: {[TOKEN_HEADER]: TOKEN}, body: Buffer.alloc(4)})
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({code: 'BAD_INPUT', message: 'query parameter replay must be 0 or 1'})
  })

  it('given kind=copy (records past every screen, which nothing in this build sends: a move\'s destination pulls its copy), then BAD_INPUT and nothing is applied', async () => {
    const key = keyIn(0, half, 'copy-kind')
    const body = encodeRecords([{key, version: formatHlc({wall: 1, counter: 0, writer: 'x'}), value: Buffer.from('ancient')}])
    const res = await fetch(`http://127.0.0.1:${replayNode.port}/v1/shards/0/apply?epoch=2&kind=copy`, {method: 'POST', headers: {[TOKEN_HEADER]: TOKEN}, body})
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({code: 'BAD_INPUT', message: 'kind must be one of write, repair'})
    expect((await replayNode.client.get(0, 2, key)).record).toBeUndefined()
  })

  it('given a write let in at an epoch and still queued, when a barrier accepts the next epoch, then accept answers only after that write finished (NOT_SERVING, retriable, past its bound)', {timeout: 30_000}, async () => {
    // A node of its own whose applies to shard 20 can be held after their last fence check (the orphan sweep's gate).
    const gate = new RangeWriteGate()
    const range = {lo: 0, hi: half}
    map.set({id: 20, range, epoch: 1, replicas: [{node: 'me', role: 'voter'}]})
    const held = await startInProcessNode({map, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 10_000, dirPrefix: 'shardctl-accept-', rangeGate: gate, acceptWaitMs: 400})
    try {
      const key = keyIn(0, half, 'held')
      let release!: () => void
      const sweep = gate.during(range, () => new Promise<void>((r) => (release = r)))
      let acked: number | undefined
      const write = held.client.apply(20, 1, [{key, version: v(0), value: Buffer.from('x')}], 'write').then((r) => {
        acked = Date.now()
        return r
      })
      await new Promise((r) => setTimeout(r, 200)) // the write is past its fences, held at the gate
      map.set({id: 20, range, epoch: 2, replicas: [{node: 'me', role: 'voter'}, {node: 'other', role: 'joining'}]}, {lagging: true})
      // Held past the bound: accept says so, retriably, and does not claim the epoch.
      const early = await held.client.accept(20, 2).then(
        () => 'answered',
        (err) => (isNodeRequestError(err) ? `${err.code} ${err.retriable}` : String(err)),
      )
      expect(early).toBe('NOT_SERVING true')
      expect(acked).toBeUndefined()
      // Released: the write commits and is acknowledged at epoch 1; an accept asked meanwhile answers after it.
      const accepted = held.client.accept(20, 2).then((r) => ({r, at: Date.now()}))
      await new Promise((r) => setTimeout(r, 100))
      release()
      await sweep
      const [w, a] = await Promise.all([write, accepted])
      expect(w.epoch).toBe(1)
      expect(a.r.epoch).toBe(2)
      expect(acked).toBeLessThanOrEqual(a.at)
      // What the barrier then lets the copy read already holds the write.
      expect((await held.client.get(20, 2, key)).record?.value?.toString()).toBe('x')
    } finally {
      await held.close()
    }
  })

  it('given a write let past the fence while the node held its etcd lease and still queued, when the lease lapses before it commits, then it is answered NOT_SERVING (retriable), not acknowledged', {timeout: 30_000}, async () => {
    // A barrier skips a node whose lease lapsed (etcd deleted alive/<id>) and its copy may read
    // this node at once; a write committing after that must not be acknowledged.
    const gate = new RangeWriteGate()
    const range = {lo: 0, hi: half}
    map.set({id: 40, range, epoch: 1, replicas: [{node: 'me', role: 'voter'}]})
    let leaseHeld = true
    const held = await startInProcessNode({map, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 10_000, dirPrefix: 'shardctl-lease-ack-', rangeGate: gate, leaseHeld: () => leaseHeld})
    try {
      const key = keyIn(0, half, 'lapsed')
      let release!: () => void
      const sweep = gate.during(range, () => new Promise<void>((r) => (release = r)))
      const write = held.client.apply(40, 1, [{key, version: v(0), value: Buffer.from('late')}], 'write').then(
        () => 'acknowledged',
        (err) => (isNodeRequestError(err) ? `${err.code} ${err.retriable}` : String(err)),
      )
      await new Promise((r) => setTimeout(r, 200)) // past its fences, held before its commit
      leaseHeld = false
      release()
      await sweep

      expect(await write).toBe('NOT_SERVING true')
      leaseHeld = true
      // It did commit (a copy would read it), but nobody was told it did.
      expect((await held.client.get(40, 1, key)).record?.value?.toString()).toBe('late')
    } finally {
      await held.close()
    }
  })

  it('given a write past its checks on the headers whose body is still coming in, when the lease lapses before the body is in, then it is answered NOT_SERVING and not applied (it would be fenced on the map the node had while it re-registered)', {timeout: 30_000}, async () => {
    const range = {lo: 0, hi: half}
    map.set({id: 41, range, epoch: 1, replicas: [{node: 'me', role: 'voter'}]})
    let leaseHeld = true
    const held = await startInProcessNode({map, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 10_000, dirPrefix: 'shardctl-lease-admit-', leaseHeld: () => leaseHeld})
    try {
      const key = keyIn(0, half, 'slow-body')
      const body = encodeRecords([{key, version: v(0), value: Buffer.from('late')}])
      let finish!: () => void
      const answer = new Promise<string>((resolve, reject) => {
        const req = request({host: '127.0.0.1', port: held.port, method: 'POST', path: '/v1/shards/41/apply?epoch=1&kind=write', headers: {[TOKEN_HEADER]: TOKEN, 'content-length': body.length}}, (res) => {
          let text = ''
          res.on('data', (c: Buffer) => (text += c.toString()))
          res.on('end', () => resolve(res.statusCode === 200 ? 'acknowledged' : ((JSON.parse(text) as {code?: string}).code ?? String(res.statusCode))))
        })
        req.on('error', reject)
        req.write(body.subarray(0, 1))
        finish = () => req.end(body.subarray(1))
      })
      for (let i = 0; held.api.inflightFor(41) === 0 && i < 1000; i++) await new Promise((r) => setTimeout(r, 10))
      leaseHeld = false
      finish()
      expect(await answer).toBe('NOT_SERVING')
      leaseHeld = true
      expect((await held.client.get(41, 1, key)).record).toBeUndefined()
    } finally {
      await held.close()
    }
  })

  it('given a write let in at a shard\'s epoch and still queued, when the shard splits and the barrier of a move of its upper half accepts, then accept answers only after that write finished (it commits into the upper half\'s range)', {timeout: 30_000}, async () => {
    // Shard 30 covers [0, half); the write's key lies in what becomes shard 31 = [q, half) after the split.
    const gate = new RangeWriteGate()
    const q = half / 2
    const whole = {lo: 0, hi: half}
    map.set({id: 30, range: whole, epoch: 1, replicas: [{node: 'me', role: 'voter'}]})
    const held = await startInProcessNode({map, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 10_000, dirPrefix: 'shardctl-accept-split-', rangeGate: gate, acceptWaitMs: 400})
    try {
      const key = keyIn(q, half, 'split')
      let release!: () => void
      const sweep = gate.during(whole, () => new Promise<void>((r) => (release = r)))
      let acked: number | undefined
      const write = held.client.apply(30, 1, [{key, version: v(0), value: Buffer.from('x')}], 'write').then((r) => {
        acked = Date.now()
        return r
      })
      await new Promise((r) => setTimeout(r, 200)) // the write is past its fences, held at the gate
      // The split (no barrier: a metadata change), then a move of the upper half begins.
      map.set({id: 30, range: {lo: 0, hi: q}, epoch: 2, replicas: [{node: 'me', role: 'voter'}]}, {lagging: true})
      map.set({id: 31, range: {lo: q, hi: half}, epoch: 3, replicas: [{node: 'me', role: 'voter'}, {node: 'other', role: 'joining'}]}, {lagging: true})
      const early = await held.client.accept(31, 3).then(
        () => 'answered',
        (err) => (isNodeRequestError(err) ? `${err.code} ${err.retriable}` : String(err)),
      )
      expect(early).toBe('NOT_SERVING true')
      expect(acked).toBeUndefined()
      const accepted = held.client.accept(31, 3).then((r) => ({r, at: Date.now()}))
      await new Promise((r) => setTimeout(r, 100))
      release()
      await sweep
      const [w, a] = await Promise.all([write, accepted])
      expect(w.epoch).toBe(1)
      expect(a.r.epoch).toBe(3)
      expect(acked).toBeLessThanOrEqual(a.at)
      // What the barrier then lets the copy of shard 31 read already holds the write.
      expect((await held.client.get(31, 3, key)).record?.value?.toString()).toBe('x')
    } finally {
      await held.close()
    }
  })
})
