import {describe, expect, it} from 'vitest'
import {type HashRange} from '../../src/model/range.js'
import {type ReplicaRole, type Shard} from '../../src/model/shard.js'
import {type MoveSide, unfinishedMovesOf} from '../../src/node/moveCopyHolds.js'
import {OrphanSweeper, OrphanTracker, RangeWriteGate} from '../../src/node/orphanSweeper.js'
import {type HeldShard, type ShardView} from '../../src/node/shardMapFollower.js'

describe('OrphanTracker', () => {
  it('reports a shard only after it stayed orphaned at one epoch for the whole grace', () => {
    const t = new OrphanTracker(1000)
    expect(t.observe(0, [{id: 1, epoch: 3, orphaned: true}])).toEqual([])
    expect(t.observe(999, [{id: 1, epoch: 3, orphaned: true}])).toEqual([])
    expect(t.observe(1000, [{id: 1, epoch: 3, orphaned: true}])).toEqual([1])
  })

  it('restarts the clock when the epoch changes or the shard stops being orphaned in between', () => {
    const t = new OrphanTracker(1000)
    t.observe(0, [{id: 1, epoch: 3, orphaned: true}, {id: 2, epoch: 1, orphaned: true}])
    t.observe(500, [{id: 1, epoch: 4, orphaned: true}, {id: 2, epoch: 1, orphaned: false}])
    expect(t.observe(1200, [{id: 1, epoch: 4, orphaned: true}, {id: 2, epoch: 1, orphaned: true}])).toEqual([])
    expect(t.observe(1500, [{id: 1, epoch: 4, orphaned: true}, {id: 2, epoch: 1, orphaned: true}])).toEqual([1])
    expect(t.observe(2200, [{id: 1, epoch: 4, orphaned: true}, {id: 2, epoch: 1, orphaned: true}])).toEqual([1, 2])
  })
})

/** A map whose "etcd" side tests edit; `me` is this node. */
class FakeMap implements ShardView {
  readonly local = new Map<number, Shard>()
  readonly etcd = new Map<number, Shard>()
  onRefresh?: () => void
  get(id: number) {
    return this.local.get(id)
  }
  async refresh(id: number) {
    this.onRefresh?.()
    const s = this.etcd.get(id)
    if (s) this.local.set(id, s)
    return this.local.get(id)
  }
  roleOf(s: Shard): ReplicaRole | undefined {
    return s.replicas.find((r) => r.node === 'me')?.role
  }
  held(): HeldShard[] {
    return []
  }
  all() {
    return [...this.local.values()]
  }
  mapRevision() {
    return 1n
  }
  set(s: Shard) {
    this.local.set(s.id, s)
    this.etcd.set(s.id, s)
  }
}

/** FakeStorage counts keys per hash and deletes ranges, like the engine's range ops. */
class FakeStorage {
  readonly hashes: number[] = []
  rangeTotals(r: HashRange) {
    return {keys: this.hashes.filter((h) => h >= r.lo && h < r.hi).length}
  }
  async deleteRange(r: HashRange) {
    const before = this.hashes.length
    for (let i = this.hashes.length - 1; i >= 0; i--) if (this.hashes[i]! >= r.lo && this.hashes[i]! < r.hi) this.hashes.splice(i, 1)
    return before - this.hashes.length
  }
}

const shard = (id: number, lo: number, hi: number, epoch: number, replicas: [string, ReplicaRole][]): Shard => ({id, range: {lo, hi}, epoch, replicas: replicas.map(([node, role]) => ({node, role}))})
const log = {info() {}, warn() {}, error() {}}

/** FakeMoves is etcd's `moves/` as the sweep reads it: the records, or a failure to read them. */
class FakeMoves {
  records: MoveSide[] = []
  down = false
  reads = 0
  async read(): Promise<MoveSide[]> {
    this.reads++
    if (this.down) throw new Error('etcd unreachable')
    return unfinishedMovesOf(this.records, 'me')
  }
}

function world() {
  const map = new FakeMap()
  const storage = new FakeStorage()
  const moves = new FakeMoves()
  let now = 0
  const logged: string[] = []
  const sweeper = new OrphanSweeper({nodeId: 'me', map, storage, gate: new RangeWriteGate(), log: {...log, info: (m: string) => logged.push(m), warn: (m: string) => logged.push(m)}, graceMs: 1000, now: () => now, moves: () => moves.read()})
  return {map, storage, moves, sweeper, logged, at: (t: number) => (now = t)}
}

describe('OrphanSweeper', () => {
  it('removes data of a range this node holds no role for after the grace, and keeps the ranges it holds (leaving too)', async () => {
    const {map, storage, sweeper, at} = world()
    map.set(shard(1, 0, 100, 2, [['a', 'voter']])) // orphaned here
    map.set(shard(2, 100, 200, 2, [['me', 'voter']]))
    map.set(shard(3, 200, 300, 2, [['a', 'voter'], ['me', 'leaving']]))
    storage.hashes.push(5, 6, 150, 250)
    expect(await sweeper.sweep()).toBe(0)
    at(1000)
    expect(await sweeper.sweep()).toBe(2)
    expect(storage.hashes).toEqual([150, 250])
  })

  it('keeps the data when etcd says the node has a role now (it joined since its view was read)', async () => {
    const {map, storage, sweeper, at} = world()
    map.set(shard(1, 0, 100, 2, [['a', 'voter']]))
    storage.hashes.push(5)
    await sweeper.sweep()
    map.etcd.set(1, shard(1, 0, 100, 3, [['a', 'voter'], ['me', 'joining']]))
    at(2000)
    expect(await sweeper.sweep()).toBe(0)
    expect(storage.hashes).toEqual([5])
  })

  it('holds a write to the range at the gate while it deletes, so a write that became legitimate is not deleted', async () => {
    const map = new FakeMap()
    const storage = new FakeStorage()
    const gate = new RangeWriteGate()
    let now = 0
    const sweeper = new OrphanSweeper({nodeId: 'me', map, storage, gate, log, graceMs: 1000, now: () => now, moves: async () => []})
    map.set(shard(1, 0, 100, 2, [['a', 'voter']]))
    storage.hashes.push(5)
    await sweeper.sweep()
    now = 1000
    const order: string[] = []
    let writeDone: Promise<void> | undefined
    map.onRefresh = () => {
      // A write to the range arrives while the sweep holds the gate: it must wait for the deletion.
      writeDone = gate.wait({lo: 50, hi: 60}).then(() => {
        order.push('write')
        storage.hashes.push(55)
      })
      void gate.wait({lo: 500, hi: 600}).then(() => order.push('other-range'))
    }
    await sweeper.sweep()
    await writeDone
    expect(order).toEqual(['other-range', 'write'])
    expect(storage.hashes).toEqual([55])
  })
})

describe('OrphanSweeper and the moves', () => {
  const side = (phase: string, over: Partial<MoveSide> = {}): MoveSide => ({id: 'm1', shard: 1, from: 'a', to: 'me', phase, ...over})

  it('keeps a range an unfinished move names this node a side of (its copy kept outside its role), for as long as the move runs', async () => {
    for (const move of [side('aborting'), side('rb-cutover'), side('aborting', {from: 'me', to: 'b'}), side('a-phase-of-a-newer-build')]) {
      const {map, storage, moves, sweeper, logged, at} = world()
      map.set(shard(1, 0, 100, 3, [['a', 'voter']])) // the destination already removed (one more epoch)
      storage.hashes.push(5, 6)
      moves.records = [move]
      for (const t of [0, 1000, 5000, 60_000]) {
        at(t)
        expect(await sweeper.sweep()).toBe(0)
      }
      expect(storage.hashes).toEqual([5, 6])
      expect(logged.filter((m) => /keeping data of a range past --orphan-grace: an unfinished move may need it/.test(m))).toHaveLength(1)
    }
  })

  it('applies the whole grace again from the first pass that sees the move finished', async () => {
    const {map, storage, moves, sweeper, at} = world()
    map.set(shard(1, 0, 100, 3, [['a', 'voter']]))
    storage.hashes.push(5)
    moves.records = [side('aborting')]
    await sweeper.sweep()
    at(5000)
    await sweeper.sweep()
    moves.records = [side('aborted')]
    at(5500)
    expect(await sweeper.sweep()).toBe(0) // the grace starts here
    at(6000)
    expect(await sweeper.sweep()).toBe(0)
    at(6500)
    expect(await sweeper.sweep()).toBe(1)
    expect(storage.hashes).toEqual([])
  })

  it('ignores finished moves, moves of other nodes and moves of ranges apart; keeps a range a move of an overlapping or unknown shard names', async () => {
    const {map, storage, moves, sweeper, at} = world()
    map.set(shard(1, 0, 100, 3, [['a', 'voter']]))
    map.set(shard(2, 100, 200, 3, [['a', 'voter']]))
    map.set(shard(3, 200, 300, 3, [['a', 'voter']]))
    map.set(shard(7, 250, 260, 3, [['a', 'voter'], ['me', 'learning']])) // overlaps shard 3 (a stale entry beside a split)
    storage.hashes.push(5, 150, 255)
    moves.records = [side('done'), side('aborting', {id: 'm2', shard: 2, from: 'a', to: 'b'}), side('rolledback', {id: 'm3', shard: 2}), side('copying', {id: 'm4', shard: 7})]
    await sweeper.sweep()
    at(1000)
    expect(await sweeper.sweep()).toBe(2)
    expect(storage.hashes).toEqual([255])
    moves.records = [side('copying', {id: 'm5', shard: 99})] // a shard this node does not know: its range cannot be told
    storage.hashes.push(5)
    at(2000)
    await sweeper.sweep()
    at(9000)
    expect(await sweeper.sweep()).toBe(0)
    expect(storage.hashes).toEqual([255, 5])
  })

  it('keeps every range while a move naming it keeps a copy outside the map: a split may have given part of its range another id', async () => {
    const {map, storage, moves, sweeper, at} = world()
    // Shard 1 was [0, 200) when this node's copy was kept (aborting, destination removed); split since, [100, 200) is shard 9.
    map.set(shard(1, 0, 100, 4, [['a', 'voter']]))
    map.set(shard(9, 100, 200, 4, [['a', 'voter']]))
    storage.hashes.push(5, 150)
    moves.records = [side('aborting')]
    await sweeper.sweep()
    at(5000)
    expect(await sweeper.sweep()).toBe(0)
    expect(storage.hashes).toEqual([5, 150])
    moves.records = [side('aborted')]
    at(6000)
    await sweeper.sweep()
    at(7000)
    expect(await sweeper.sweep()).toBe(2)
  })

  it('removes nothing while it cannot read the moves, and restarts the grace once it can', async () => {
    const {map, storage, moves, sweeper, logged, at} = world()
    map.set(shard(1, 0, 100, 3, [['a', 'voter']]))
    storage.hashes.push(5)
    await sweeper.sweep()
    moves.down = true
    for (const t of [1000, 2000, 3000]) {
      at(t)
      expect(await sweeper.sweep()).toBe(0)
    }
    expect(logged.filter((m) => /cannot read the moves/.test(m))).toHaveLength(1)
    moves.down = false
    at(3500)
    expect(await sweeper.sweep()).toBe(0)
    at(4500)
    expect(await sweeper.sweep()).toBe(1)
  })

  it('reads the moves only in a pass that finds data of a range the node holds no role for', async () => {
    const {map, storage, moves, sweeper} = world()
    map.set(shard(1, 0, 100, 3, [['me', 'voter']]))
    storage.hashes.push(5)
    await sweeper.sweep()
    expect(moves.reads).toBe(0)
  })

  it('lists the moves once per pass, however many shards are candidates or due in it (session 39 noted one list per due shard: it is one per pass)', async () => {
    const {map, storage, moves, sweeper, at} = world()
    for (let id = 0; id < 5; id++) map.set(shard(id, id * 100, id * 100 + 100, 1, [['a', 'voter']]))
    storage.hashes.push(5, 105, 205, 305, 405)
    await sweeper.sweep()
    expect(moves.reads).toBe(1)
    at(1000)
    expect(await sweeper.sweep()).toBe(5) // all five due in this pass
    expect(moves.reads).toBe(2)
  })

  it('does not remove a range whose shard etcd has at another epoch than the pass observed (its grace restarts)', async () => {
    const {map, storage, sweeper, at} = world()
    map.set(shard(1, 0, 100, 3, [['a', 'voter']]))
    storage.hashes.push(5)
    await sweeper.sweep()
    // Meanwhile a move made this node a learner and aborted it again (epochs 4, 5), unseen by the local view.
    map.etcd.set(1, shard(1, 0, 100, 5, [['a', 'voter']]))
    at(1000)
    expect(await sweeper.sweep()).toBe(0)
    at(1500)
    expect(await sweeper.sweep()).toBe(0)
    at(2500)
    expect(await sweeper.sweep()).toBe(1)
  })
})

describe('node serve --orphan-grace', () => {
  const flags = {id: 'n1', listen: {host: '127.0.0.1', port: 0}, 'data-dir': '/tmp/x', 'stats-interval': 5000, 'lease-ttl': 10_000, 'tombstone-grace': 3_600_000, 'shutdown-timeout': 10_000, fsync: 'full', 'max-clock-offset': 500}
  it('defaults to 10 minutes, takes a duration, and refuses under a second naming the flag (garbage is the duration flag type\'s usage error)', async () => {
    const {serveOptions} = await import('../../src/node/serveOptions.js')
    expect(serveOptions(flags, log).orphanGraceMs).toBe(600_000)
    expect(serveOptions({...flags, 'orphan-grace': 2000}, log).orphanGraceMs).toBe(2000)
    expect(() => serveOptions({...flags, 'orphan-grace': 500}, log)).toThrow(/--orphan-grace must be at least 1s/)
  })
})
