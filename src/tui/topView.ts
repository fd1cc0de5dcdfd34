import {etaSeconds} from '../executor/moveViews.js'
import {underReplicatedLive, underReplicatedOf} from '../cluster/censusCounts.js'
import {loadPredatesMap} from '../cluster/loadStaleness.js'
import {checkWarnings, checkWayOut, copyGoalBytes, isTerminal, lossWarnings, lossWayOut, type Move, type MovePhase} from '../model/move.js'
import {type NodeState} from '../model/node.js'
import {liveFigures} from './liveFigures.js'
import {censusCountsOrEmpty} from './topCensus.js'
import {type SeriesSample} from './liveSeries.js'
import {formatRate, type LogLine, orderedMoves, type TopState} from './topState.js'

/** ExecutorState is what the header says about the executor. */
export type ExecutorState = 'running' | 'paused' | 'idle'

/** HeaderView is the header's content. */
export interface HeaderView {
  cluster: string
  endpoint: string
  connection: TopState['connection']
  /** downForSeconds: how long etcd has been unreachable (0 when connected). */
  downForSeconds: number
  lastError: string | null
  nodesUp: number
  nodesDown: number
  shards: number
  movingShards: number
  /**
   * underReplicatedShards: shards with fewer live voters than rf (as `cluster status` and the
   * autopilot count them), from the census's voter-set histogram and the alive keys; 0 before
   * the meta is read.
   */
  underReplicatedShards: number
  /**
   * replicasOnDownNodes counts the replicas held by down nodes when the census has no
   * voter-set histogram (an older census, or more voter sets than it keeps): then
   * underReplicatedShards counts voters only, dead or alive, and this says what it misses
   * (`cluster status` counts them exactly, in one paged read). 0 when the count is exact.
   */
  replicasOnDownNodes: number
  /** censusKnown is false for a cluster without a shard census (counts then read 0; `cluster recount` creates it). */
  censusKnown: boolean
  rf: number | null
  imbalance: number | null
  target: number
  executor: {state: ExecutorState; holder: string | null; pausedFlag: boolean}
  throttle: string
  stage: string | null
}

/** NodeRowView is one row of the nodes panel; utilisation is per resource with 1 = the cluster mean. */
export interface NodeRowView {
  id: string
  zone: string
  state: NodeState
  down: boolean
  replicas: number
  utilisation: number | null
  perResource: {reads: number; writes: number; bytes: number} | null
  /**
   * loadStale: the load the utilisation is figured from predates the shard map's latest change
   * for the node, as `node show` and `cluster status` say it (loadPredatesMap): it is over
   * another number of replicas than `replicas`, as right after a drain or a move the node has
   * not published since. False while it publishes nothing (its figures are then estimated from
   * `replicas`) and while the census is unknown (no count to check against).
   */
  loadStale: boolean
}

/** MoveRowView is one row of the moves panel. */
export interface MoveRowView {
  id: string
  shard: number
  from: string
  to: string
  phase: MovePhase
  terminal: boolean
  /** fraction copied (0..1) of what the copy applies in all (copyGoalBytes: the planned size, more for a merged copy), never above 1; null when the size is unknown. */
  fraction: number | null
  bytes: number
  /** dataRateBytesPerSec is the rate of `bytes` (key and value bytes), 0 unless copying: the unit of the bar and the ETA. */
  dataRateBytesPerSec: number
  etaSeconds: number | null
  reason: string | null
  cancelRequested: boolean
  stalled: boolean
  selected: boolean
  /**
   * warning marks a move that carries warnings (`moves show` prints them): `data-loss` while
   * one of possible data loss is not acknowledged (`moves ack`; `moves list` notes DATA MAY BE
   * LOST), `warned` for any other (one that reports no loss, or acknowledged); null for none.
   */
  warning: 'data-loss' | 'warned' | null
}

/**
 * TroubleView is one warning no operator acknowledged that waits for one, any phase: of
 * possible data loss (model/move.ts lossWarnings: a redis master a move used restarted without
 * appendonly; what `cluster status` lists as trouble, with the same way out), or one that
 * reports no loss but waits for a check (checkWarnings: a redis slot held open, a restart window
 * nobody could judge), `loss` false, so none waits unseen.
 */
export interface TroubleView {
  /** loss: a warning of possible data loss; false for one that reports none but waits for a check. */
  loss: boolean
  move: string
  shard: number
  /** phase is the move's phase now (such a move usually ended `done`). */
  phase: MovePhase
  /** at is when the warning was written (ISO). */
  at: string
  text: string
  wayOut: string
}

/**
 * ClientsView is the clients' side and the copy side of the live view: figures now (the
 * latest sample) and the series the sparklines draw, oldest first.
 */
export interface ClientsView {
  routers: number
  reqPerSec: number | null
  p99Ms: number | null
  errors: number
  copyRate: number
  throttle: number | null
  series: readonly SeriesSample[]
}

/** TopView is everything the screen renders, derived from the state. */
export interface TopView {
  header: HeaderView
  clients: ClientsView
  nodes: NodeRowView[]
  moves: MoveRowView[]
  /** trouble: unacknowledged warnings of possible data loss, oldest first (see TroubleView). */
  trouble: TroubleView[]
  log: readonly LogLine[]
  ui: TopState['ui']
  confirm: MoveRowView | null
}

/**
 * deriveTopView turns the state into what the screen shows: header figures, per-node
 * utilisation (the planner's figures, see liveFigures), moves in display order. Pure, and
 * O(nodes + moves): shard figures come from the census, never from walking shards.
 */
export function deriveTopView(state: TopState, target: number): TopView {
  const counts = censusCountsOrEmpty(state.census)
  const replicas = counts.replicasByNode
  const figures = liveFigures({meta: state.meta, nodes: state.nodes, alive: state.alive, replicasByNode: replicas, load: state.load})
  const nodes: NodeRowView[] = [...state.nodes.values()]
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((n) => {
      const f = figures.nodes.get(n.id)
      const held = replicas[n.id] ?? 0
      const own = state.load.get(n.id)
      const loadStale = state.census.counts !== null && own !== undefined && loadPredatesMap(own.replicas, held)
      return {id: n.id, zone: n.zone, state: n.state, down: !state.alive.has(n.id), replicas: held, utilisation: f?.utilisation ?? null, perResource: f?.perResource ?? null, loadStale}
    })
  const up = nodes.filter((n) => !n.down).length
  const paused = state.control?.paused ?? false
  const moves: MoveRowView[] = orderedMoves(state).map((m) => ({
    id: m.id,
    shard: m.shard,
    from: m.from,
    to: m.to,
    phase: m.phase,
    terminal: isTerminal(m.phase),
    fraction: m.phase === 'done' ? 1 : copyGoalBytes(m.progress) > 0 ? Math.min(1, m.progress.bytes / copyGoalBytes(m.progress)) : null,
    bytes: m.progress.bytes,
    dataRateBytesPerSec: m.phase === 'copying' ? m.progress.dataRateBytesPerSec : 0,
    etaSeconds: etaSeconds(m),
    reason: m.reason,
    cancelRequested: m.cancelRequested,
    stalled: m.progress.stalled,
    selected: m.id === state.ui.selected,
    warning: warningMark(m),
  }))
  const liveUnderReplicated = state.meta ? underReplicatedLive(counts, state.meta.rf, state.alive) : undefined
  const header: HeaderView = {
    cluster: state.cluster,
    endpoint: state.endpoint,
    connection: state.connection,
    downForSeconds: state.connection === 'connected' ? 0 : Math.max(0, Math.round((state.now - state.connectionSince) / 1000)),
    lastError: state.lastError,
    nodesUp: up,
    nodesDown: nodes.length - up,
    shards: counts.shards,
    movingShards: counts.moving,
    underReplicatedShards: state.meta ? (liveUnderReplicated ?? underReplicatedOf(counts, state.meta.rf)) : 0,
    replicasOnDownNodes: liveUnderReplicated === undefined ? nodes.reduce((n, row) => n + (row.down ? row.replicas : 0), 0) : 0,
    censusKnown: state.census.counts !== null,
    rf: state.meta?.rf ?? null,
    imbalance: figures.imbalance,
    target,
    executor: {state: state.lock ? (paused ? 'paused' : 'running') : 'idle', holder: state.lock ? `${state.lock.holder} (pid ${state.lock.pid})` : null, pausedFlag: paused},
    throttle: state.control?.throttleBytesPerSec == null ? 'default' : formatRate(state.control.throttleBytesPerSec),
    stage: state.stage,
  }
  const last = state.series.at(-1)
  const clients: ClientsView = {
    routers: state.routers.size,
    reqPerSec: last?.reqPerSec ?? null,
    p99Ms: last?.p99Ms ?? null,
    errors: last?.errors ?? 0,
    copyRate: last?.copyRate ?? 0,
    throttle: state.control?.throttleBytesPerSec ?? null,
    series: state.series,
  }
  return {header, clients, nodes, moves, trouble: troubleOf(state.moves.values()), log: state.log, ui: state.ui, confirm: moves.find((m) => m.id === state.ui.confirmCancel) ?? null}
}

/** warningMark is a move row's MoveRowView.warning. */
function warningMark(m: Move): MoveRowView['warning'] {
  if (lossWarnings(m).length > 0) return 'data-loss'
  return (m.warnings ?? []).length > 0 ? 'warned' : null
}

/**
 * troubleOf lists every move's unacknowledged warnings of possible data loss, oldest first (then
 * by move id), as `cluster status` does, then those that report no loss but wait for a check
 * (checkWarnings), in the same order: a panel cut short shows the losses first.
 */
export function troubleOf(moves: Iterable<Move>): TroubleView[] {
  const all = [...moves]
  const of = (loss: boolean) => (m: Move) => (loss ? lossWarnings(m) : checkWarnings(m)).map((w) => ({loss, move: m.id, shard: m.shard, phase: m.phase, at: w.at, text: w.text, wayOut: loss ? lossWayOut(m.id) : checkWayOut(m.id)}))
  const order = (a: TroubleView, b: TroubleView) => (a.at === b.at ? (a.move < b.move ? -1 : a.move > b.move ? 1 : 0) : a.at < b.at ? -1 : 1)
  return [...all.flatMap(of(true)).sort(order), ...all.flatMap(of(false)).sort(order)]
}
