import {errorMessage} from '../errors/errors.js'
import {type HashRange, rangesOverlap} from '../model/range.js'
import {type Shard} from '../model/shard.js'
import {moveHolding, type MoveSide} from './moveCopyHolds.js'
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
  /**
   * moves gives the unfinished moves naming this node as a side (unfinishedMovesOf), from the
   * node's moves view (movesView.ts): read at etcd revision `atLeast` or later (the pass passes
   * the map revision its candidates were found at) and started at most `maxAgeMs` ago (the pass
   * passes half the grace, so the pass that removes a range reads moves written after the range
   * was first seen orphaned). Throws when they cannot be read. Asked once per pass that finds data
   * of a range the node holds no role for (rare), never otherwise.
   */
  moves: (atLeast: bigint, maxAgeMs: number) => Promise<readonly MoveSide[]>
}

/**
 * OrphanSweeper removes, after a grace, data this node keeps in ranges of shards it holds
 * no role for (leftovers of a move whose drop never reached the node: it was down, or an
 * older executor dropped best effort). Before deleting it re-reads the shard from etcd
 * (linearizable) with writes to the range held at the gate, so a node that just joined
 * never loses what it was sent.
 *
 * A range an unfinished move names this node a side of is not an orphan: the executor keeps
 * a copy outside the node's map role on purpose (an aborted or rolled-back move's destination
 * while the source is down: it may be the only copy up of an acknowledged write;
 * docs/moves.md "A destination's copy with the source down"). Its grace starts once a pass
 * sees the move finished. A pass that cannot read the moves removes nothing and restarts every
 * grace (fail safe: a move it could not see may have kept a copy meanwhile).
 */
export class OrphanSweeper {
  private readonly tracker: OrphanTracker
  private running = false
  /** keptClock: since when a move has kept each range (a range kept past the grace is logged, once per move: keptLogged). */
  private readonly keptClock: OrphanTracker
  private readonly keptLogged = new Map<number, string>()
  /** movesUnread: the last pass could not read the moves (warned once per streak). */
  private movesUnread = false

  constructor(private readonly deps: OrphanSweeperDeps) {
    this.tracker = new OrphanTracker(deps.graceMs)
    this.keptClock = new OrphanTracker(deps.graceMs)
  }

  /** sweep runs one pass; returns the records removed. Skips (0) when a pass is already running. */
  async sweep(): Promise<number> {
    if (this.running) return 0
    this.running = true
    try {
      const {map, storage} = this.deps
      const atRevision = map.mapRevision()
      const candidates = map.all().filter((s) => map.roleOf(s) === undefined && storage.rangeTotals(s.range).keys > 0)
      const kept = candidates.length === 0 ? new Map<number, MoveSide>() : await this.keptByMoves(candidates, atRevision)
      if (kept === undefined) {
        this.tracker.observe(this.deps.now(), [])
        return 0
      }
      const obs = candidates.map((s) => ({id: s.id, epoch: s.epoch, orphaned: !kept.has(s.id)}))
      const epochs = new Map(obs.map((o) => [o.id, o.epoch]))
      let removed = 0
      for (const id of this.tracker.observe(this.deps.now(), obs)) removed += await this.removeIfStillOrphaned(id, epochs.get(id)!)
      return removed
    } finally {
      this.running = false
    }
  }

  /**
   * keptByMoves reads the unfinished moves naming this node (as of the map at `atRevision` or later) and returns which of `candidates`
   * one of them may need (by shard id, with the move); undefined when the moves cannot be read.
   */
  private async keptByMoves(candidates: readonly Shard[], atRevision: bigint): Promise<Map<number, MoveSide> | undefined> {
    let moves: readonly MoveSide[]
    try {
      moves = await this.deps.moves(atRevision, this.deps.graceMs / 2)
    } catch (err) {
      if (!this.movesUnread) this.deps.log.warn('orphan sweep: cannot read the moves from etcd; removing nothing until it can', {error: errorMessage(err)})
      this.movesUnread = true
      return undefined
    }
    this.movesUnread = false
    const kept = new Map<number, MoveSide>()
    for (const s of candidates) {
      const m = moveHolding(s, moves, (id) => this.deps.map.get(id))
      if (m) kept.set(s.id, m)
    }
    // Logged once a range would have been removed (kept a whole grace), once per move: a node an
    // unfinished move keeps data on says why its disk is not freed.
    const due = this.keptClock.observe(this.deps.now(), candidates.map((s) => ({id: s.id, epoch: s.epoch, orphaned: kept.has(s.id)})))
    for (const id of due) {
      const m = kept.get(id)!
      if (this.keptLogged.get(id) === m.id) continue
      this.keptLogged.set(id, m.id)
      this.deps.log.info('orphan sweep: keeping data of a range past --orphan-grace: an unfinished move may need it', {shard: id, move: m.id, phase: m.phase, from: m.from, to: m.to, graceMs: this.deps.graceMs})
    }
    for (const id of [...this.keptLogged.keys()]) if (!kept.has(id)) this.keptLogged.delete(id)
    return kept
  }

  private async removeIfStillOrphaned(id: number, observedEpoch: number): Promise<number> {
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
      // The shard changed since this pass looked (a move may have given the node a role and
      // taken it back, with the moves read before): the next pass restarts its grace.
      if (fresh.epoch !== observedEpoch) return 0
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
