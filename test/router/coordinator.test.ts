import {describe, expect, it} from 'vitest'
import {HybridClock} from '../../src/model/hlc.js'
import {type Shard} from '../../src/model/shard.js'
import {Coordinator, type CoordinatorOptions} from '../../src/router/coordinator.js'
import {QuorumError} from '../../src/router/quorumError.js'
import {type RepairTask} from '../../src/router/readRepairQueue.js'
import {RoutingTable} from '../../src/router/routingTable.js'
import {FakeNode} from './fakeNode.js'
import {shardOf} from './fixtures.js'

const OPTS: CoordinatorOptions = {quorum: {}, nodeTimeoutMs: 100, requestTimeoutMs: 1000, staleRetries: 3}

/** Given a one-shard cluster over fake nodes, with an etcd stand-in (`etcdShard`) that refresh() copies in. */
function setup(spec: string, opts: Partial<CoordinatorOptions> = {}) {
  const nodes = new Map<string, FakeNode>()
  for (const p of spec.split(' ')) {
    const id = p.split(':')[0]!
    nodes.set(id, new FakeNode(id))
  }
  let current: Shard = shardOf(0, spec)
  const state = {etcdShard: current, refreshes: 0, repairs: [] as RepairTask[]}
  let wall = 1000
  const coordinator = new Coordinator({
    map: {
      table: () => RoutingTable.of([current]),
      refresh: async () => {
        state.refreshes++
        current = state.etcdShard
      },
    },
    node: (id) => nodes.get(id),
    clock: new HybridClock('r1', () => wall++),
    now: () => 0,
    repair: (t) => {
      state.repairs.push(t)
      return true
    },
    options: {...OPTS, ...opts},
  })
  return {coordinator, nodes, state}
}

const k = (s: string) => Buffer.from(s)

describe('Coordinator writes', () => {
  it('writes to every replica and returns the version it stored', async () => {
    const {coordinator, nodes} = setup('a b c')
    const res = await coordinator.write(k('x'), Buffer.from('1'))
    await new Promise((r) => setImmediate(r))
    for (const n of nodes.values()) expect(n.records.get(k('x').toString('hex'))?.version).toBe(res.version)
  })

  it('succeeds with one of three replicas down (w = 2)', async () => {
    const {coordinator, nodes} = setup('a b c')
    nodes.get('b')!.down = true
    await expect(coordinator.write(k('x'), Buffer.from('1'))).resolves.toMatchObject({shard: 0})
  })

  it('fails with QUORUM_FAILED naming the shard and the failed replicas when two are down', async () => {
    const {coordinator, nodes} = setup('a b c')
    nodes.get('a')!.down = true
    nodes.get('c')!.down = true
    const err = await coordinator.write(k('x'), Buffer.from('1')).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(QuorumError)
    expect((err as QuorumError).shard).toBe(0)
    expect((err as QuorumError).failed.map((f) => f.node).sort()).toEqual(['a', 'c'])
    expect((err as QuorumError).code).toBe('QUORUM_FAILED')
  })

  it('rf 1 during a move needs the destination too (joint quorum)', async () => {
    const {coordinator, nodes} = setup('a d:joining')
    nodes.get('d')!.down = true
    await expect(coordinator.write(k('x'), Buffer.from('1'))).rejects.toBeInstanceOf(QuorumError)
    nodes.get('d')!.down = false
    await expect(coordinator.write(k('x'), Buffer.from('1'))).resolves.toBeDefined()
  })

  it('never writes to a leaving replica', async () => {
    const {coordinator, nodes} = setup('a b c z:leaving')
    await coordinator.write(k('x'), Buffer.from('1'))
    await new Promise((r) => setImmediate(r))
    expect(nodes.get('z')!.applied).toHaveLength(0)
  })

  it('recovers transparently from STALE_EPOCH: refreshes the map and retries with the same version', async () => {
    const {coordinator, nodes, state} = setup('a b c')
    for (const n of nodes.values()) n.epoch = 2
    state.etcdShard = {...state.etcdShard, epoch: 2}
    const res = await coordinator.write(k('x'), Buffer.from('1'))
    expect(state.refreshes).toBe(1)
    expect(res.epoch).toBe(2)
    expect(nodes.get('a')!.records.get(k('x').toString('hex'))?.version).toBe(res.version)
  })

  it('gives up after its retry budget when the map never catches up', async () => {
    const {coordinator, nodes, state} = setup('a b c', {staleRetries: 2})
    for (const n of nodes.values()) n.epoch = 9 // etcd still says epoch 1
    const err = await coordinator.write(k('x'), Buffer.from('1')).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(QuorumError)
    expect(state.refreshes).toBe(2)
    expect((err as QuorumError).failed[0]?.code).toBe('STALE_EPOCH')
  })

  it('issues increasing versions for successive writes', async () => {
    const {coordinator} = setup('a')
    const v1 = (await coordinator.write(k('x'), Buffer.from('1'))).version
    const v2 = (await coordinator.write(k('x'), null)).version
    expect(v2 > v1).toBe(true)
  })
})

describe('Coordinator reads', () => {
  it('returns the newest record among r voters and queues read repair for the stale one', async () => {
    const {coordinator, nodes, state} = setup('a b c')
    const old = await coordinator.write(k('x'), Buffer.from('old'))
    nodes.get('c')!.down = true
    await coordinator.write(k('x'), Buffer.from('new'))
    nodes.get('c')!.down = false
    // rotate until c is among the two replicas read
    let seen = false
    for (let i = 0; i < 3 && !seen; i++) {
      const r = await coordinator.read(k('x'))
      expect(r.record?.value?.toString()).toBe('new')
      seen = state.repairs.some((t) => t.node === 'c')
    }
    expect(seen).toBe(true)
    const task = state.repairs.find((t) => t.node === 'c')!
    expect(task.record.version > old.version).toBe(true)
    expect(task.shard).toBe(0)
  })

  it('falls back to the third voter when one of the first two fails', async () => {
    const {coordinator, nodes} = setup('a b c')
    await coordinator.write(k('x'), Buffer.from('v'))
    nodes.get('a')!.down = true
    for (let i = 0; i < 3; i++) expect((await coordinator.read(k('x'))).record?.value?.toString()).toBe('v')
  })

  it('reads only voters: a joining replica is not asked', async () => {
    const {coordinator, nodes} = setup('a b c d:joining')
    await coordinator.write(k('x'), Buffer.from('v'))
    for (let i = 0; i < 4; i++) await coordinator.read(k('x'))
    expect(nodes.get('d')!.gets).toBe(0)
  })

  it('an absent key reads as no record; a deleted one as a tombstone', async () => {
    const {coordinator} = setup('a b c')
    expect((await coordinator.read(k('none'))).record).toBeUndefined()
    await coordinator.write(k('gone'), Buffer.from('v'))
    await coordinator.write(k('gone'), null)
    expect((await coordinator.read(k('gone'))).record?.value).toBeNull()
  })

  it('fails with QUORUM_FAILED when fewer than r voters answer', async () => {
    const {coordinator, nodes} = setup('a b c')
    nodes.get('a')!.down = true
    nodes.get('b')!.down = true
    await expect(coordinator.read(k('x'))).rejects.toBeInstanceOf(QuorumError)
  })

  it('recovers from STALE_EPOCH on reads too', async () => {
    const {coordinator, nodes, state} = setup('a b c')
    for (const n of nodes.values()) n.epoch = 3
    state.etcdShard = {...state.etcdShard, epoch: 3}
    await expect(coordinator.read(k('x'))).resolves.toMatchObject({epoch: 3})
  })

  it('a read folds the newest version into the clock, so a later write is newer', async () => {
    const {coordinator, nodes} = setup('a')
    const far = {key: k('x'), version: '000999999999999.000000.other', value: Buffer.from('future')}
    await nodes.get('a')!.apply(0, 1, [far])
    await coordinator.read(k('x'))
    const w = await coordinator.write(k('x'), Buffer.from('now'))
    expect(w.version > far.version).toBe(true)
  })
})
