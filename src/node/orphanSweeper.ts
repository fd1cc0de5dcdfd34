import {errorMessage} from '../errors/errors.js'
import {type HashRange, rangesOverlap} from '../model/range.js'
import {type Shard} from '../model/shard.js'
import {type NodeLog} from './nodeLog.js'
import {type ShardView} from './shardMapFollower.js'

/** OrphanObservation is one shard as a sweep sees it: whether this node holds data of its range while it has no role in it. */
export interface OrphanObservation {
  id: number
  epoch: number
  orphaned: boolean
}

/**
 * OrphanTracker (pure) remembers since when each shard's range has held data on this node
 * while the node had no role in the shard, at the same epoch. {@link observe} returns the
 * shards orphaned for at least `graceMs`; any change (a role, no data left, a new epoch)
 * restarts the clock, so data is never swept sooner than a whole grace after the shard
 * last changed.
 */
export class OrphanTracker {
  private readonly since = new Map<number, {epoch: number; at: number}>()

  constructor(private readonly graceMs: number) {}

  /** observe records one sweep's view at `now` and returns the ids due for removal, in id order. */
  observe(now: number, shards: readonly OrphanObservation[]): number[] {
    const seen = new Set<number>()
    const due: number[] = []
    for (const s of shards) {
      if (!s.orphaned) continue
      seen.add(s.id)
      const prev = this.since.get(s.id)
      if (!prev || prev.epoch !== s.epoch) {
        this.since.set(s.id, {epoch: s.epoch, at: now})
        continue
      }
      if (now - prev.at >= this.graceMs) due.push(s.id)
    }
    for (const id of [...this.since.keys()]) if (!seen.has(id)) this.since.delete(id)
    return due.sort((a, b) => a - b)
  }

  /** forget restarts the clock of shard `id` (after its data was removed). */
  forget(id: number): void {
    this.since.delete(id)
  }
}

/** OrphanStorage is what the sweeper needs of the storage engine. */
export interface OrphanStorage {
  rangeTotals(range: HashRange): {keys: number}
  deleteRange(range: HashRange): Promise<number>
}

/**
 * RangeWriteGate holds writes to a range while an orphan sweep removes it: a write that became
 * legitimate (the node joined the shard) after the sweep confirmed it had no role waits
 * until the deletion is over, so the sweep never deletes it.
 */
export class RangeWriteGate {
  private closed?: {range: HashRange; done: Promise<void>}

  /** wait resolves at once unless a sweep of a range overlapping `range` is running; then when it ends. */
  async wait(range: HashRange): Promise<void> {
    const c = this.closed
    if (c && rangesOverlap(c.range, range)) await c.done
  }

  /** during runs `fn` with the gate closed on `range` (one sweep at a time). */
  async during<T>(range: HashRange, fn: () => Promise<T>): Promise<T> {
    let open!: () => void
    this.closed = {range, done: new Promise<void>((r) => (open = r))}
    try {
      return await fn()
    } finally {
      this.closed = undefined
      open()
    }
  }
}

/** OrphanSweeperDeps are the sweeper's collaborators. */
export interface OrphanSweeperDeps {
  nodeId: string
  map: ShardView
  storage: OrphanStorage
  gate: RangeWriteGate
  log: NodeLog
  graceMs: number
  now: () => number
}

/**
 * OrphanSweeper removes, after a grace, data this node keeps in ranges of shards it holds
 * no role for (leftovers of a move whose drop never reached the node: it was down, or an
 * older executor dropped best effort). Before deleting it re-reads the shard from etcd
 * (linearizable) with writes to the range held at the gate, so a node that just joined
 * never loses what it was sent.
 */
export class OrphanSweeper {
  private readonly tracker: OrphanTracker
  private running = false

  constructor(private readonly deps: OrphanSweeperDeps) {
    this.tracker = new OrphanTracker(deps.graceMs)
  }

  /** sweep runs one pass; returns the records removed. Skips (0) when a pass is already running. */
  async sweep(): Promise<number> {
    if (this.running) return 0
    this.running = true
    try {
      const {map, storage} = this.deps
      const obs = map.all().map((s) => ({id: s.id, epoch: s.epoch, orphaned: map.roleOf(s) === undefined && storage.rangeTotals(s.range).keys > 0}))
      let removed = 0
      for (const id of this.tracker.observe(this.deps.now(), obs)) removed += await this.removeIfStillOrphaned(id)
      return removed
    } finally {
      this.running = false
    }
  }

  private async removeIfStillOrphaned(id: number): Promise<number> {
    const known = this.deps.map.get(id)
    if (!known) return 0
    return this.deps.gate.during(known.range, async () => {
      let fresh: Shard | undefined
      try {
        fresh = await this.deps.map.refresh(id)
      } catch (err) {
        this.deps.log.warn('orphan sweep: cannot confirm the shard with etcd; keeping its data', {shard: id, error: errorMessage(err)})
        return 0
      }
      if (!fresh || this.deps.map.roleOf(fresh) !== undefined) return 0
      const range = fresh.range
      if (range.lo < known.range.lo || range.hi > known.range.hi) return 0 // the gate covers only the range it closed on; the next pass retries
      const holder = this.deps.map.all().find((s) => s.range.lo < range.hi && range.lo < s.range.hi && this.deps.map.roleOf(s) !== undefined)
      if (holder) return 0
      const deleted = await this.deps.storage.deleteRange(range)
      this.tracker.forget(id)
      this.deps.log.info('removed data of a range this node holds no role for', {shard: id, epoch: fresh.epoch, range, deleted, graceMs: this.deps.graceMs})
      return deleted
    })
  }
}
