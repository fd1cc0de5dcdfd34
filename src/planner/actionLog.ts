import {type MoveReason, type PlanAction, type PlanOptions, type SplitAction, type StopReason} from '../model/plan.js'
import {type ClusterState} from './clusterState.js'

/** roundUtil keeps plan files readable and stable: six decimals, never negative from float drift. */
export function roundUtil(u: number): number {
  return Math.max(0, Math.round(u * 1e6) / 1e6)
}

/**
 * ActionLog applies actions to a {@link ClusterState} and records them as plan actions, in
 * order, with the totals the summary needs. It enforces `maxMoves` and `maxBytes`: once a
 * move does not fit, {@link limitHit} says which limit stopped the plan and no further move
 * is accepted.
 */
export class ActionLog {
  readonly actions: PlanAction[] = []
  moves = 0
  splits = 0
  bytes = 0
  keys = 0
  loadMoved = 0
  limitHit: Extract<StopReason, 'max-moves' | 'max-bytes'> | undefined

  constructor(
    private readonly state: ClusterState,
    private readonly options: Pick<PlanOptions, 'maxMoves' | 'maxBytes'>,
  ) {}

  /**
   * forkOnto returns an independent log over `state` (a {@link ClusterState.clone} of this
   * log's state) with the same actions and totals, so two strategies can continue from one
   * point and the better one be kept.
   */
  forkOnto(state: ClusterState): ActionLog {
    const copy = new ActionLog(state, this.options)
    copy.actions.push(...this.actions)
    copy.moves = this.moves
    copy.splits = this.splits
    copy.bytes = this.bytes
    copy.keys = this.keys
    copy.loadMoved = this.loadMoved
    copy.limitHit = this.limitHit
    return copy
  }

  /** fits tells whether one more move copying `bytes` stays within the limits; when not, it records the limit hit. */
  fits(bytes: number): boolean {
    if (this.limitHit) return false
    if (this.options.maxMoves !== null && this.moves + 1 > this.options.maxMoves) this.limitHit = 'max-moves'
    else if (this.options.maxBytes !== null && this.bytes + bytes > this.options.maxBytes) this.limitHit = 'max-bytes'
    return this.limitHit === undefined
  }

  /** move moves slot `slot` to node `to` in the state and records it. Callers check placement rules and {@link fits} first. */
  move(slot: number, to: number, reason: MoveReason): void {
    const st = this.state
    const from = st.placement.slotNode[slot]!
    const s = st.placement.slotShard[slot]!
    const epoch = st.placement.shardEpoch[s]!
    const bytes = st.slotBytes(slot)
    const keys = st.slotKeys(slot)
    this.loadMoved += st.slotUnits(slot)
    st.placement.moveSlot(slot, to)
    this.moves++
    this.bytes += bytes
    this.keys += keys
    // Keys in sorted order: the plan hash serialises fastest that way (see canonicalPlanJson).
    const sortedReason: MoveReason = reason.resource === undefined ? {detail: reason.detail, kind: reason.kind} : {detail: reason.detail, kind: reason.kind, resource: reason.resource}
    this.actions.push({
      bytes,
      epoch,
      from: st.model.nodeIds[from]!,
      keys,
      kind: 'move',
      predicted: {source: roundUtil(st.placement.util[from]!), target: roundUtil(st.placement.util[to]!)},
      reason: sortedReason,
      shard: st.placement.shardId[s]!,
      to: st.model.nodeIds[to]!,
    })
  }

  /**
   * split splits shard index `s` at `at` in the state and records it, the lower part taking
   * `loadBelow` of the reads and writes (half when omitted); returns the new shard's index.
   * Splits do not count against the limits (no data moves).
   */
  split(s: number, at: number, reason: SplitAction['reason'], loadBelow?: number): number {
    const st = this.state
    const epoch = st.placement.shardEpoch[s]!
    const id = st.placement.shardId[s]!
    const lo = st.placement.shardLo[s]!
    const hi = st.placement.shardHi[s]!
    const t = st.placement.splitShard(s, at, loadBelow)
    this.splits++
    const action: SplitAction = {
      kind: 'split',
      shard: id,
      epoch,
      at,
      parts: [
        {shard: id, range: {lo, hi: at}, epoch: st.placement.shardEpoch[s]!},
        {shard: st.placement.shardId[t]!, range: {lo: at, hi}, epoch: st.placement.shardEpoch[t]!},
      ],
      reason,
    }
    if (loadBelow !== undefined) action.loadBelow = loadBelow
    this.actions.push(action)
    return t
  }
}
