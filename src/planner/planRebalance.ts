import {UserError} from '../errors/errors.js'
import {type BaselineFigures, type Plan, type PlanBody, PlanBodySchema, type PlanOptions, type PlanStatus, sealPlan, type StopReason, type Unplaceable} from '../model/plan.js'
import {type ClusterSnapshot} from '../model/snapshot.js'
import {ActionLog, roundUtil} from './actionLog.js'
import {applyBandSolution, BAND_SEARCH_MAX_DEPTH, BAND_SEARCH_MAX_NODES, BAND_SEARCH_MAX_REPLICAS, fewestMovesToBand} from './bandSearch.js'
import {averageReplicaUnits, balance, type BalanceOutcome, worseFirst} from './balancePhase.js'
import {ClusterState} from './clusterState.js'
import {drainAndRepair} from './drainAndRepair.js'
import {handleHotShards, type HotShard} from './hotShards.js'
import {type PlanMeta, type PlanOptionsInput, resolvePlanOptions} from './options.js'
import {imbalanceOf, loadOutsideTarget, nodeFigures, planNodes} from './planFigures.js'
import {bandText, ratioText} from './ratioText.js'
import {ReceiverIndex} from './receiverIndex.js'
import {ringMoves} from './ringStrategy.js'

/** PlanComputeOptions tune the computation, not the plan: `baseline: false` skips the ring comparison (its figures are then null). */
export interface PlanComputeOptions {
  baseline?: boolean
}

/**
 * planRebalance computes a plan for `snapshot`: a pure, deterministic function (no I/O,
 * no clock, no randomness), so the same snapshot, options and meta always give the
 * byte-identical plan. Strategy `balance` runs the goals in priority order (split hot
 * shards when allowed, drain and fix placement rules, then balance utilisation);
 * `ring` moves replicas to their consistent-hash placement. Every intermediate step keeps
 * every placement rule. The summary compares against the `ring` baseline unless
 * `compute.baseline` is false.
 *
 * A replica that must move (drain, violated rule) but can go nowhere does not stop the plan:
 * it stays, is listed in `summary.unplaceable` with the reason, the status is `unreachable`,
 * and everything else is planned.
 *
 * Throws UserError BAD_INPUT for invalid options or plan id, and UserError UNREACHABLE_TARGET
 * when every node is draining.
 */
export function planRebalance(snapshot: ClusterSnapshot, input: PlanOptionsInput, meta: PlanMeta, compute: PlanComputeOptions = {}): Plan {
  const options = resolvePlanOptions(input)
  const id = PlanBodySchema.shape.id.safeParse(meta.id)
  if (!id.success) throw new UserError('BAD_INPUT', `plan id ${JSON.stringify(meta.id)}: ${id.error.issues[0]?.message ?? 'invalid'}`)
  const initial = ClusterState.fromSnapshot(snapshot, options)
  const baseline = options.strategy === 'ring' || compute.baseline === false ? null : ringBaseline(initial.clone(), options)
  const run = options.strategy === 'ring' ? runRing(initial, options) : runBalance(initial, options)
  const body: PlanBody = {
    version: 1,
    id: meta.id,
    createdAt: meta.createdAt,
    cluster: snapshot.cluster.name,
    rf: snapshot.cluster.rf,
    createdFrom: {revision: snapshot.revision, fingerprint: snapshot.fingerprint, ...(snapshot.cluster.uid === undefined ? {} : {uid: snapshot.cluster.uid})},
    options,
    actions: run.log.actions,
    nodes: planNodes(run.state, run.before, run.after),
    summary: {
      status: run.status,
      stopReason: run.stop,
      stopDetail: run.detail,
      target: options.maxImbalance,
      imbalanceBefore: imbalanceOf(run.state, run.before),
      imbalanceAfter: imbalanceOf(run.state, run.after),
      moves: run.log.moves,
      splits: run.log.splits,
      bytesToMove: run.log.bytes,
      keysToMove: run.log.keys,
      loadMoved: roundUtil(run.log.loadMoved),
      loadOutsideTarget: roundUtil(run.lowerBound),
      hotShards: run.hot,
      unplaceable: run.unplaceable,
      baseline,
    },
  }
  return sealPlan(body)
}

interface Run {
  state: ClusterState
  log: ActionLog
  before: ReturnType<typeof nodeFigures>
  after: ReturnType<typeof nodeFigures>
  lowerBound: number
  stop: StopReason
  status: PlanStatus
  detail: string
  hot: HotShard[]
  unplaceable: Unplaceable[]
}

/**
 * planStatus is every strategy's verdict, from where the plan starts and ends: `balanced`
 * when the cluster is within target and nothing had to be done (no action, no drain left for
 * later, nothing unplaceable); `needs-rebalance` only when every node ends within the band
 * and nothing is unplaceable; otherwise `unreachable`, whether the rules stopped the plan or
 * it stopped short (a limit, --drain-only, the ring placement: see shortStopOf in
 * src/model/plan.ts). Deciding by the end state, not by the stop reason, keeps a plan that
 * ends above the target from passing `plan --check` as one that fixes the skew.
 */
function planStatus(p: {acted: boolean; withinBefore: boolean; withinAfter: boolean; pending: boolean; unplaceable: boolean}): PlanStatus {
  if (!p.acted && p.withinBefore && !p.pending && !p.unplaceable) return 'balanced'
  return p.withinAfter && !p.unplaceable ? 'needs-rebalance' : 'unreachable'
}

function start(state: ClusterState, options: PlanOptions) {
  const before = nodeFigures(state)
  const lowerBound = loadOutsideTarget(state)
  const withinBefore = outsideNodes(state).length === 0
  return {state, before, lowerBound, withinBefore, log: new ActionLog(state, options), index: receiverIndexOf(state)}
}

/** SPLIT_ROUNDS bounds how often a balance run restarts with more shards to split (see runBalance). */
const SPLIT_ROUNDS = 3

/**
 * runBalance runs the balance goals. With `allowSplit`, a run that gets stuck (nodes over
 * target whose replicas fit nowhere) restarts from the untouched state with the hottest
 * replica's shard of each stuck node split as well, at most {@link SPLIT_ROUNDS} times, so
 * every split still comes before every move.
 */
function runBalance(initial: ClusterState, options: PlanOptions): Run {
  const pristine = options.allowSplit && !options.drainOnly ? initial.clone() : undefined
  const forced = new Set<number>()
  let best: (Run & {stuck: number[]}) | undefined
  for (let round = 1; ; round++) {
    const run = balanceOnce(round === 1 ? initial : pristine!.clone(), options, forced)
    // A restart only counts when its splits got closer to the target.
    if (!best || totalOutside(run.state) < totalOutside(best.state) - 1e-9) best = run
    if (!pristine || round >= SPLIT_ROUNDS || run.stop !== 'no-improvement') return best
    const more = hottestOnStuckNodes(run.state, run.stuck, pristine.placement.shardCount).filter((s) => !forced.has(s))
    if (more.length === 0) return best
    for (const s of more) forced.add(s)
  }
}

function totalOutside(state: ClusterState): number {
  let sum = 0
  for (let i = 0; i < state.model.nodeCount; i++) sum += state.outside(i)
  return sum
}

/**
 * zoneBound explains a node stuck because of its zone: with the zone spread, replicas do
 * not leave their zone, so a zone whose nodes average above the target cannot get every
 * node under it. Returns the explanation, or '' when the node's zone is not the cause.
 */
function zoneBound(state: ClusterState, node: number | undefined): string {
  if (node === undefined || state.model.requiredZones < 2) return ''
  const zone = state.model.nodeZone[node]!
  let load = 0
  let size = 0
  for (let i = 0; i < state.model.nodeCount; i++) {
    if (!state.model.inPool[i] || state.model.nodeZone[i] !== zone) continue
    load += state.placement.util[i]! * state.model.kappa[i]!
    if (state.model.receiver[i] || state.placement.util[i]! > 0) size += state.model.kappa[i]!
  }
  const mean = size > 0 ? load / size : 0
  if (mean <= state.model.target) return ''
  return `; zone ${state.model.zoneNames[zone]}'s nodes average ${mean.toFixed(2)}x the mean and replicas cannot leave their zone without breaking the zone spread: add capacity to zone ${state.model.zoneNames[zone]}`
}

/** hottestOnStuckNodes returns, for each over-target stuck node, the original shard (index below `originalShards`) of its hottest movable replica. */
function hottestOnStuckNodes(state: ClusterState, stuck: readonly number[], originalShards: number): number[] {
  const out = new Set<number>()
  for (const node of stuck) {
    if (state.placement.util[node]! <= state.model.target) continue
    let best = -1
    for (const slot of state.placement.nodeSlots[node]!) {
      if (!state.movable(slot) || state.placement.slotShard[slot]! >= originalShards) continue
      if (best < 0 || state.utilDelta(slot, node) > state.utilDelta(best, node)) best = slot
    }
    if (best >= 0) out.add(state.placement.slotShard[best]!)
  }
  return [...out].sort((a, b) => a - b)
}

function balanceOnce(initial: ClusterState, options: PlanOptions, forced: ReadonlySet<number>): Run & {stuck: number[]} {
  const started = start(initial, options)
  const {before, lowerBound, withinBefore} = started
  const {hot, stillHot} = options.drainOnly ? {hot: [], stillHot: new Set<number>()} : handleHotShards(started.state, started.log, options.allowSplit, forced)
  const {deferred, unplaceable} = drainAndRepair(started.state, started.log, started.index)
  let stop: StopReason
  let stuck: number[] = []
  let {state, log} = started
  if (log.limitHit) stop = log.limitHit
  else if (options.drainOnly) stop = 'drain-only'
  else {
    // Hot shards still move, and their nodes still balance: the target is out of reach, but
    // the lexicographic objective still lowers the worst node as far as the rules allow.
    const best = balanceBestOrder(started.state, started.log, options)
    ;({state, log} = best)
    stop = stillHot.size > 0 && best.outcome.stop !== 'max-moves' && best.outcome.stop !== 'max-bytes' ? 'unreachable' : best.outcome.stop
    stuck = best.outcome.stuck
  }
  const after = nodeFigures(state)
  const left = outsideNodes(state)
  const status = planStatus({acted: log.actions.length > 0, withinBefore, withinAfter: left.length === 0, pending: deferred.length > 0, unplaceable: unplaceable.length > 0})
  const parts = [describeStop(state, options, stop, stuck.length > 0 ? stuck : left, hot)]
  if (unplaceable.length > 0) {
    const first = unplaceable[0]!
    parts.push(`${unplaceable.length} replica(s) must move but fit nowhere and stay (first: ${first.shard === null ? '' : `shard ${first.shard} `}${first.reason})`)
  }
  if (deferred.length > 0) parts.push(`${deferred.length} replica(s) on draining nodes belong to shards mid-move and were left for a later plan (first: shard ${deferred[0]!.shard} on ${deferred[0]!.node})`)
  return {state, log, before, after, lowerBound, stop, status, detail: parts.join('; '), hot, stuck, unplaceable}
}

/**
 * balanceBestOrder balances with the byte-thrifty order and, when that stops short of the
 * band (not at a move or byte limit), also from the same point with the largest-first and
 * the steepest orders, keeping whichever ends lexicographically best (see
 * {@link compareOutcomes}; ties keep the earlier of thrifty, largest-first, steepest). A
 * byte-thrifty run can strand a big replica where no node has room left for it; placing big
 * replicas first avoids that but copies more, so it is only tried when it can matter. The
 * two largest-first variants are local searches that end in different local optima (on the
 * optimality test's wider sweep each beats the other somewhere), so both run. On clusters of
 * at most {@link BAND_SEARCH_MAX_REPLICAS} replicas and {@link BAND_SEARCH_MAX_NODES} nodes a
 * bounded search then looks for fewer moves that reach the band (see searchFewerMoves).
 */
function balanceBestOrder(state: ClusterState, log: ActionLog, options: PlanOptions): Balanced {
  // The search's copy is taken before balancing changes the state (see searchFewerMoves).
  const searchable = state.placement.slotCount <= BAND_SEARCH_MAX_REPLICAS && state.model.nodeCount <= BAND_SEARCH_MAX_NODES
  const searchState = searchable ? state.clone() : undefined
  const searchLog = searchState ? log.forkOnto(searchState) : undefined
  const greedy = balanceGreedy(state, log, options)
  return searchState && searchLog ? searchFewerMoves(greedy, searchState, searchLog, options) : greedy
}

interface Balanced {
  state: ClusterState
  log: ActionLog
  outcome: BalanceOutcome
}

/**
 * searchFewerMoves runs {@link fewestMovesToBand} from the state balancing started from
 * (`state`, `log`) and keeps its moves instead of the greedy ones when they reach the band
 * the greedy runs missed, or reach it in fewer moves copying no more bytes (the search's
 * order: fewest moves, then fewest bytes). The greedy orders stop in local optima on small
 * clusters: filling a new node with 2-unit replicas can leave one node a unit over and
 * another a unit under with no move or swap between them that helps, and gain per byte
 * prefers four small moves to one of a big replica that overshoots the band's top. Small
 * clusters only (see balanceBestOrder).
 *
 * Anti-churn holds for the search as a whole: its moves must take at least `minImprovement`
 * of an average replica's load out of the band each, on average (a node a hair over the top
 * is not worth a copy here either).
 */
function searchFewerMoves(greedy: Balanced, state: ClusterState, log: ActionLog, options: PlanOptions): Balanced {
  const greedyMoves = greedy.log.moves - log.moves
  const greedyInBand = outsideNodes(greedy.state).length === 0
  if (greedyInBand && greedyMoves <= 1) return greedy
  const bytesLeft = options.maxBytes === null ? Infinity : options.maxBytes - log.bytes
  const limits = {
    moves: options.maxMoves === null ? Infinity : options.maxMoves - log.moves,
    // Fewer moves are no gain if they copy more than the greedy plan that reaches the band.
    bytes: greedyInBand ? Math.min(bytesLeft, greedy.log.bytes - log.bytes) : bytesLeft,
  }
  const solution = fewestMovesToBand(state, greedyInBand ? greedyMoves - 1 : BAND_SEARCH_MAX_DEPTH, limits)
  if (!solution) return greedy
  const minStep = options.minImprovement * averageReplicaUnits(state)
  if (totalOutside(state) < minStep * solution.moves.length) return greedy
  const greedyText = greedyInBand ? `the greedy orders took ${greedyMoves}` : `the greedy orders stopped outside the band after ${greedyMoves}`
  if (!applyBandSolution(state, log, solution, greedyText)) return greedy
  return {state, log, outcome: {stop: 'within-target', stuck: []}}
}

/** balanceGreedy balances by the greedy orders, the byte-thrifty one and, where it stops short on a small cluster, the largest-first ones (see balanceBestOrder). */
function balanceGreedy(state: ClusterState, log: ActionLog, options: PlanOptions): Balanced {
  // The fork is taken before balancing, and only where the second run may happen (a copy of
  // a big cluster's placement costs more than the small runs it serves).
  const small = state.placement.slotCount <= LARGEST_FIRST_MAX_REPLICAS
  const forkState = small ? state.clone() : undefined
  const forkLog = forkState ? log.forkOnto(forkState) : undefined
  const thrifty = {state, log, outcome: balance(state, log, receiverIndexOf(state), options.minImprovement, 'efficient')}
  if (thrifty.outcome.stop !== 'no-improvement') return thrifty
  // The largest-first run revisits stuck nodes after every move: quadratic in replicas. On
  // a 2,048-shard rf-3 cluster bound by one zone it took 344 s (0.6 s without it), so it runs
  // only where stranding a big replica can matter and costs milliseconds: small clusters.
  if (!forkState || !forkLog) return thrifty
  // A second fork for the steepest run, taken before the largest-first run changes forkState.
  const steepState = forkState.clone()
  const steepLog = forkLog.forkOnto(steepState)
  const largest = {state: forkState, log: forkLog, outcome: balance(forkState, forkLog, receiverIndexOf(forkState), options.minImprovement, 'largest-first')}
  const steepest = {state: steepState, log: steepLog, outcome: balance(steepState, steepLog, receiverIndexOf(steepState), options.minImprovement, 'steepest')}
  let best = compareOutcomes(largest, thrifty) < 0 ? largest : thrifty
  if (compareOutcomes(steepest, best) < 0) best = steepest
  return best
}

/**
 * compareOutcomes orders two balanced states by the objective: the pool's utilisations sorted
 * from the most utilised down, compared in order (lexicographically, with a tolerance for
 * float drift), then fewer moves, then fewer bytes. Negative when `a` is better.
 */
function compareOutcomes(a: {state: ClusterState; log: ActionLog}, b: {state: ClusterState; log: ActionLog}): number {
  const ua = poolUtilDescending(a.state)
  const ub = poolUtilDescending(b.state)
  for (let i = 0; i < ua.length; i++) {
    const d = ua[i]! - ub[i]!
    if (Math.abs(d) > OBJECTIVE_TOLERANCE) return d
  }
  return a.log.moves - b.log.moves || a.log.bytes - b.log.bytes
}

/** LARGEST_FIRST_MAX_REPLICAS: above this many replicas only the byte-thrifty order runs (see balanceBestOrder). */
const LARGEST_FIRST_MAX_REPLICAS = 256

/** OBJECTIVE_TOLERANCE: utilisations closer than this are equal when comparing outcomes. */
const OBJECTIVE_TOLERANCE = 1e-9

function poolUtilDescending(state: ClusterState): Float64Array {
  const out: number[] = []
  for (let i = 0; i < state.model.nodeCount; i++) if (state.model.inPool[i]) out.push(state.placement.util[i]!)
  return Float64Array.from(out).sort().reverse()
}

function receiverIndexOf(state: ClusterState): ReceiverIndex {
  return new ReceiverIndex(state.placement.util, state.model.receiver, state.model.nodeZone, state.model.zoneNames.length)
}

function runRing(initial: ClusterState, options: PlanOptions): Run {
  const {state, before, lowerBound, withinBefore, log, index} = start(initial, options)
  const {skipped} = ringMoves(state, log, index)
  const after = nodeFigures(state)
  const stop: StopReason = log.limitHit ?? 'ring-complete'
  const status = planStatus({acted: log.actions.length > 0, withinBefore, withinAfter: outsideNodes(state).length === 0, pending: false, unplaceable: false})
  let detail = stop === 'ring-complete' ? 'every shard is on its consistent-hash placement' : describeStop(state, options, stop, outsideNodes(state), [])
  if (skipped > 0) detail += `; ${skipped} ring difference(s) skipped because they would break a placement rule`
  return {state, log, before, after, lowerBound, stop, status, detail, hot: [], unplaceable: []}
}

/** ringBaseline runs the `ring` strategy on a copy of the initial state for the summary's comparison. */
function ringBaseline(initial: ClusterState, options: PlanOptions): BaselineFigures {
  const ring = runRing(initial, {...options, strategy: 'ring', maxMoves: null, maxBytes: null})
  return {
    strategy: 'ring',
    imbalanceAfter: imbalanceOf(ring.state, ring.after),
    moves: ring.log.moves,
    bytesToMove: ring.log.bytes,
    loadMoved: roundUtil(ring.log.loadMoved),
  }
}

function outsideNodes(state: ClusterState): number[] {
  const out: number[] = []
  for (let i = 0; i < state.model.nodeCount; i++) if (state.outside(i) > 0) out.push(i)
  return out.sort((a, b) => worseFirst(state, a, b))
}

/** largestReplica explains a stuck node by its hottest movable replica, suggesting --allow-split when splits were not allowed. */
function largestReplica(state: ClusterState, node: number | undefined, allowSplit: boolean): string {
  if (node === undefined || state.placement.util[node]! <= state.model.target) return ''
  let best = -1
  for (const slot of state.placement.nodeSlots[node]!) if (state.movable(slot) && (best < 0 || state.utilDelta(slot, node) > state.utilDelta(best, node))) best = slot
  if (best < 0) return `; no replica on ${state.model.nodeIds[node]} may move (pinned or mid-move)`
  const share = state.utilDelta(best, node)
  return `; its hottest replica (shard ${state.placement.shardId[state.placement.slotShard[best]!]}, ${share.toFixed(2)}x the mean on its own) fits on no node with room${allowSplit ? '' : ' (--allow-split may help)'}`
}

function describeStop(state: ClusterState, options: PlanOptions, stop: StopReason, outside: readonly number[], hot: readonly HotShard[]): string {
  const band = bandText(state.model.floor, state.model.target)
  const worst = outside[0] === undefined ? '' : ` (worst: ${state.model.nodeIds[outside[0]]} at ${ratioText(Math.max(0, state.placement.util[outside[0]]!), [state.model.floor, state.model.target])}x)`
  const still = outside.length === 0 ? 'every node is within target' : `${outside.length} node(s) stay outside ${band}${worst}`
  switch (stop) {
    case 'within-target':
      return `every node is within ${band}`
    case 'no-improvement':
      return `no move lowers a node outside the band (or raises one below it) by at least ${options.minImprovement} of an average replica's load without breaking a placement rule: ${still}${zoneBound(state, outside[0]) || largestReplica(state, outside[0], options.allowSplit)}`
    case 'max-moves':
      return `stopped at the limit of ${options.maxMoves} move(s); ${still}`
    case 'max-bytes':
      return `stopped at the limit of ${options.maxBytes} bytes; ${still}`
    case 'drain-only':
      return `drains and placement fixes only (--drain-only); ${still}`
    case 'unreachable': {
      const h = hot.filter((x) => !x.split)[0] ?? hot[0]
      const cause = h
        ? `shard ${h.shard} alone carries ${ratioText(h.load, [state.model.target])}x an average node's load (mostly ${h.resource}) on ${h.node}, more than any node can take within ${state.model.target}x the mean${h.hotKey ? `; one key (hash ${h.hotKey.hash}) takes ${Math.round(h.hotKey.share * 100)}% of its sampled requests, and no split can divide a key: spread that key's load in the application` : options.allowSplit ? ' even after splitting' : '; rerun with --allow-split to split it'}`
        : 'the target cannot be reached under the placement rules'
      return `${cause}; ${still}`
    }
    case 'ring-complete':
      return 'every shard is on its consistent-hash placement'
  }
}
