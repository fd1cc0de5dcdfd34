import {autopilotKeys, type AutopilotState, AutopilotStateSchema, type DecisionRecord} from '../autopilot/autopilotState.js'
import {type ClusterKeys} from '../etcd/keys.js'
import {type LockHolder, LockHolderSchema} from '../etcd/leaseLock.js'
import {isThrottleHold} from '../executor/copyAdmission.js'
import {type ExecutorEvent} from '../executor/executorEnv.js'
import {describeThrottleStep, isRateChange} from '../executor/throttleStepText.js'
import {type ClusterMeta, ClusterMetaSchema} from '../model/cluster.js'
import {type Control, ControlSchema} from '../model/control.js'
import {isTerminal, lossWayOut, type Move, MoveSchema} from '../model/move.js'
import {type ClusterNode, NodeSchema} from '../model/node.js'
import {NodeStatsSummarySchema} from '../model/stats.js'
import {formatBytes} from '../model/units.js'
import {RouterRecordSchema} from '../router/routerRegistration.js'
import {loadTotals, type NodeLoadTotals} from './liveFigures.js'
import {appendSample, nextRouterFigures, type RouterFigures, sampleOf, type SeriesSample} from './liveSeries.js'
import {applyCensusKey, emptyTopCensus, type TopCensus} from './topCensus.js'
import {type z} from 'zod'

/**
 * Connection is how the TUI's etcd feed stands: `connecting` before the first read,
 * `connected` while the watch streams, `reconnecting` after etcd went away (the watch
 * resumes by itself), `resyncing` while re-reading after events were lost.
 */
export type Connection = 'connecting' | 'connected' | 'reconnecting' | 'resyncing'

/** LogLevel colours an event log line. */
export type LogLevel = 'info' | 'warn' | 'error'

/** LogLine is one line of the event log. */
export interface LogLine {
  at: number
  level: LogLevel
  text: string
}

/**
 * KeyValue is one etcd key with its value (null: deleted) and, where known, the revision
 * that created it (a read's createRevision, a watch put's modRevision): the census needs it
 * to tell a delta already folded into the base from a pending one.
 */
export interface KeyValue {
  key: string
  value: string | null
  revision?: bigint
}

/** TopState is everything the TUI shows: the cluster as the etcd feed last saw it, the event log and UI state. */
export interface TopState {
  cluster: string
  endpoint: string
  connection: Connection
  /** connectionSince is when `connection` last changed (ms). */
  connectionSince: number
  lastError: string | null
  /** seeded is true once the first full read arrived. */
  seeded: boolean
  meta: ClusterMeta | null
  nodes: ReadonlyMap<string, ClusterNode>
  alive: ReadonlySet<string>
  /**
   * census is the shard census (shards, moving, voters histogram, replicas per node) as
   * `census/` keys say: `top` never reads or keeps the shard map, so a frame costs the
   * same at 100k shards as at 10.
   */
  census: TopCensus
  /** load is each node's published load, summed when its stats record changes. */
  load: ReadonlyMap<string, NodeLoadTotals>
  moves: ReadonlyMap<string, Move>
  control: Control | null
  /** lock is the executor lock's holder; null when no executor runs. */
  lock: LockHolder | null
  /** autopilot is the last `autopilot/state` the leader wrote (null when no autopilot ever ran). */
  autopilot: AutopilotState | null
  /** routers are the live routers' client figures (from their leased registrations). */
  routers: ReadonlyMap<string, RouterFigures>
  /** series is the once-a-second history the sparklines draw (copy rate, throttle, clients). */
  series: readonly SeriesSample[]
  log: readonly LogLine[]
  /** stage is a caller's headline (the demo's current step), shown in the header. */
  stage: string | null
  ui: {selected: string | null; confirmCancel: string | null; help: boolean}
  now: number
}

/** TopAction is everything that changes {@link TopState}; time travels in the action (`at`, ms). */
export type TopAction =
  | {type: 'seeded'; at: number; items: KeyValue[]}
  | {type: 'kv'; at: number; item: KeyValue}
  | {type: 'connection'; at: number; status: 'connected' | 'disconnected' | 'resyncing'; error?: string}
  | {type: 'executor'; event: ExecutorEvent}
  | {type: 'notice'; at: number; level: LogLevel; text: string}
  | {type: 'stage'; at: number; text: string | null}
  | {type: 'tick'; at: number}
  | {type: 'sample'; at: number}
  | {type: 'select'; delta: 1 | -1}
  | {type: 'askCancel'}
  | {type: 'dismissCancel'}
  | {type: 'toggleHelp'}

/** LOG_LIMIT bounds the event log kept in memory (the screen shows the last few lines). */
export const LOG_LIMIT = 200

/** initialTopState is the state before anything was read. */
export function initialTopState(cluster: string, endpoint: string, at: number): TopState {
  return {
    cluster,
    endpoint,
    connection: 'connecting',
    connectionSince: at,
    lastError: null,
    seeded: false,
    meta: null,
    nodes: new Map(),
    alive: new Set(),
    census: emptyTopCensus(),
    load: new Map(),
    moves: new Map(),
    control: null,
    lock: null,
    autopilot: null,
    routers: new Map(),
    series: [],
    log: [],
    stage: null,
    ui: {selected: null, confirmCancel: null, help: false},
    now: at,
  }
}

/**
 * topReducer is the TUI's pure state transition: no clock, no I/O. etcd key changes are
 * classified by `keys` and validated; an invalid value is logged and ignored. Phase
 * changes, retries, nodes going down, executor changes and the autopilot's decisions
 * become event log lines.
 */
export function topReducer(keys: ClusterKeys, state: TopState, action: TopAction): TopState {
  switch (action.type) {
    case 'seeded': {
      let next: TopState = {...initialTopState(state.cluster, state.endpoint, action.at), log: state.log, series: state.series, stage: state.stage, ui: state.ui, connection: 'connected', connectionSince: state.connection === 'connected' ? state.connectionSince : action.at}
      const lines: LogLine[] = []
      for (const item of action.items) next = applyKv(keys, next, item, action.at, lines)
      const shards = next.census.counts === null ? 'no shard census (run `shardctl cluster recount`)' : `${next.census.counts.shards} shards`
      const summary = state.seeded ? 'resynced from etcd' : `connected: ${next.nodes.size} nodes, ${shards}, ${[...next.moves.values()].filter((m) => !isTerminal(m.phase)).length} moves running`
      return keepSelection(appendLog({...next, seeded: true, lastError: null}, [...lines.filter((l) => l.text.startsWith('ignored an invalid value')), {at: action.at, level: 'info', text: summary}]))
    }
    case 'kv': {
      if (!state.seeded) return state
      const lines: LogLine[] = []
      const next = applyKv(keys, {...state, now: action.at}, action.item, action.at, lines)
      return keepSelection(appendLog(next, lines))
    }
    case 'connection': {
      const connection: Connection = action.status === 'connected' ? (state.seeded ? 'connected' : 'connecting') : action.status === 'resyncing' ? 'resyncing' : 'reconnecting'
      if (connection === state.connection && action.error === undefined) return state
      const text = connection === 'reconnecting' ? `etcd unreachable${action.error ? `: ${action.error}` : ''}; reconnecting` : connection === 'connected' ? 'etcd reachable again' : connection === 'resyncing' ? 'events were lost: re-reading the cluster' : null
      const changed = connection !== state.connection
      const next: TopState = {...state, now: action.at, connection, connectionSince: changed ? action.at : state.connectionSince, lastError: action.error ?? (connection === 'connected' ? null : state.lastError)}
      return changed && text ? appendLog(next, [{at: action.at, level: connection === 'reconnecting' ? 'error' : 'info', text}]) : next
    }
    case 'executor':
      return action.event.type === 'throttle' && !isRateChange(action.event) ? state : appendLog(state, [executorLine(action.event)])
    case 'notice':
      return appendLog({...state, now: action.at}, [{at: action.at, level: action.level, text: action.text}])
    case 'stage':
      return {...state, now: action.at, stage: action.text}
    case 'tick':
      return action.at === state.now ? state : {...state, now: action.at}
    case 'sample': {
      if (!state.seeded) return state
      // The COPY line is drawn against the throttle, so it sums the stream's rate (what the throttle spends), not the data rate the move rows show.
      const copyRate = [...state.moves.values()].filter((m) => m.phase === 'copying').reduce((a, m) => a + m.progress.rateBytesPerSec, 0)
      return {...state, now: action.at, series: appendSample(state.series, sampleOf(action.at, state.routers.values(), copyRate, state.control?.throttleBytesPerSec ?? null))}
    }
    case 'select': {
      const ids = selectableMoves(state)
      if (ids.length === 0) return {...state, ui: {...state.ui, selected: null}}
      const at = state.ui.selected === null ? -1 : ids.indexOf(state.ui.selected)
      const index = at === -1 ? (action.delta === 1 ? 0 : ids.length - 1) : Math.max(0, Math.min(ids.length - 1, at + action.delta))
      return {...state, ui: {...state.ui, selected: ids[index]!}}
    }
    case 'askCancel': {
      const m = state.ui.selected === null ? undefined : state.moves.get(state.ui.selected)
      if (!m || isTerminal(m.phase)) return appendLog(state, [{at: state.now, level: 'warn', text: m ? `move ${m.id} already finished (${m.phase})` : 'select a running move with ↑/↓ first'}])
      return {...state, ui: {...state.ui, confirmCancel: m.id, help: false}}
    }
    case 'dismissCancel':
      return state.ui.confirmCancel === null ? state : {...state, ui: {...state.ui, confirmCancel: null}}
    case 'toggleHelp':
      return {...state, ui: {...state.ui, help: !state.ui.help}}
  }
}

/**
 * orderedMoves lists the moves the moves panel shows, in display order: running moves
 * first (by plan order), then finished ones, most recently updated first.
 */
export function orderedMoves(state: Pick<TopState, 'moves'>): Move[] {
  const all = [...state.moves.values()]
  const running = all.filter((m) => !isTerminal(m.phase)).sort((a, b) => (a.plan === b.plan ? a.index - b.index : a.plan < b.plan ? -1 : 1))
  const finished = all.filter((m) => isTerminal(m.phase)).sort((a, b) => (a.updatedAt === b.updatedAt ? (a.id < b.id ? 1 : -1) : a.updatedAt < b.updatedAt ? 1 : -1))
  return [...running, ...finished]
}

/** selectableMoves are the ids ↑/↓ move through: every move the panel lists. */
function selectableMoves(state: TopState): string[] {
  return orderedMoves(state).map((m) => m.id)
}

function keepSelection(state: TopState): TopState {
  if (state.ui.selected !== null && !state.moves.has(state.ui.selected)) return {...state, ui: {...state.ui, selected: null, confirmCancel: null}}
  return state
}

function appendLog(state: TopState, lines: LogLine[]): TopState {
  if (lines.length === 0) return state
  const log = [...state.log, ...lines]
  return {...state, log: log.length > LOG_LIMIT ? log.slice(log.length - LOG_LIMIT) : log}
}

function parse<S extends z.ZodType>(schema: S, key: string, raw: string, at: number, lines: LogLine[]): z.output<S> | undefined {
  try {
    const r = schema.safeParse(JSON.parse(raw))
    if (r.success) return r.data
  } catch {
    // fall through: invalid JSON is reported like an invalid value
  }
  lines.push({at, level: 'warn', text: `ignored an invalid value at ${key}`})
  return undefined
}

function withEntry<K, V>(map: ReadonlyMap<K, V>, key: K, value: V | undefined): ReadonlyMap<K, V> {
  const next = new Map(map)
  if (value === undefined) next.delete(key)
  else next.set(key, value)
  return next
}

function applyKv(keys: ClusterKeys, state: TopState, {key, value, revision}: KeyValue, at: number, lines: LogLine[]): TopState {
  const id = key.slice(key.lastIndexOf('/') + 1)
  if (key === keys.meta) return {...state, meta: value === null ? null : (parse(ClusterMetaSchema, key, value, at, lines) ?? state.meta)}
  if (key === keys.control) return {...state, control: controlChange(state.control, value === null ? null : (parse(ControlSchema, key, value, at, lines) ?? state.control), at, lines)}
  if (key === keys.executorLock) {
    const lock = value === null ? null : (parse(LockHolderSchema, key, value, at, lines) ?? null)
    if (lock && !state.lock) lines.push({at, level: 'info', text: `executor started: ${lock.holder} (pid ${lock.pid} on ${lock.host})`})
    if (!lock && state.lock) lines.push({at, level: 'info', text: `executor stopped: ${state.lock.holder}`})
    return {...state, lock}
  }
  if (key === autopilotKeys(keys.prefix).state) {
    const autopilot = value === null ? null : (parse(AutopilotStateSchema, key, value, at, lines) ?? state.autopilot)
    if (autopilot) autopilotLines(state.autopilot, autopilot, at, lines)
    return {...state, autopilot}
  }
  if (key.startsWith(keys.nodesPrefix)) {
    const node = value === null ? undefined : parse(NodeSchema, key, value, at, lines)
    const before = state.nodes.get(id)
    if (node && before && node.state !== before.state) lines.push({at, level: 'info', text: `node ${id}: ${before.state} → ${node.state}`})
    if (!node && before) lines.push({at, level: 'info', text: `node ${id} removed from the cluster`})
    if (value !== null && !node) return state
    return {...state, nodes: withEntry(state.nodes, id, node)}
  }
  if (key.startsWith(keys.alivePrefix)) {
    const up = value !== null
    if (up !== state.alive.has(id)) lines.push({at, level: up ? 'info' : 'error', text: `node ${id} is ${up ? 'up' : 'down'}`})
    const alive = new Set(state.alive)
    if (up) alive.add(id)
    else alive.delete(id)
    return {...state, alive}
  }
  // Shard records are not followed: the census below carries every figure top shows.
  if (key.startsWith(keys.shardsPrefix)) return state
  if (key.startsWith(keys.censusPrefix)) {
    const census = applyCensusKey(state.census, key, key === keys.censusBase, value, revision ?? 0n)
    if (!census) {
      lines.push({at, level: 'warn', text: `ignored an invalid value at ${key}`})
      return state
    }
    return census === state.census ? state : {...state, census}
  }
  if (key.startsWith(keys.statsPrefix)) {
    const stats = value === null ? undefined : parse(NodeStatsSummarySchema, key, value, at, lines)
    if (value !== null && !stats) return state
    return {...state, load: withEntry(state.load, id, stats ? loadTotals(stats) : undefined)}
  }
  if (key.startsWith(keys.movesPrefix)) {
    const move = value === null ? undefined : parse(MoveSchema, key, value, at, lines)
    if (value !== null && !move) return state
    if (move) moveLines(state.moves.get(move.id), move, at, lines)
    return {...state, moves: withEntry(state.moves, id, move)}
  }
  if (key.startsWith(keys.routersPrefix)) {
    if (value === null) return {...state, routers: withEntry(state.routers, id, undefined)}
    const record = parse(RouterRecordSchema, key, value, at, lines)
    if (!record) return state
    const before = state.routers.get(id)
    const next = nextRouterFigures(before, record)
    if (next.errorsSeen > (before?.errorsSeen ?? 0)) lines.push({at, level: 'error', text: `router ${id}: ${next.errorsSeen - (before?.errorsSeen ?? 0)} client request(s) failed`})
    return next === before ? state : {...state, routers: withEntry(state.routers, id, next)}
  }
  // Everything else under the prefix (constraints, the token) is not shown.
  return state
}

function controlChange(before: Control | null, after: Control | null, at: number, lines: LogLine[]): Control | null {
  const wasPaused = before?.paused ?? false
  const isPaused = after?.paused ?? false
  if (wasPaused !== isPaused) lines.push({at, level: 'info', text: isPaused ? 'moves paused' : 'moves resumed'})
  const r0 = before?.throttleBytesPerSec ?? null
  const r1 = after?.throttleBytesPerSec ?? null
  if (r0 !== r1) lines.push({at, level: 'info', text: `throttle set to ${formatRate(r1)}`})
  return after
}

/**
 * MILESTONES are the phase changes the event log reports, one line each: a move starts
 * (joins), cuts over, and ends (or aborts, fails, rolls back). The phases in between
 * show in the move's row; `moves show` has every step.
 */
const MILESTONES: Partial<Record<Move['phase'], string>> = {
  joining: 'started',
  cutover: 'cut over',
  aborting: 'aborting',
  'rb-cutover': 'rolling back',
  done: 'done',
  aborted: 'aborted',
  skipped: 'skipped',
  failed: 'failed',
  rolledback: 'rolled back',
}

function moveLines(before: Move | undefined, m: Move, at: number, lines: LogLine[]): void {
  const what = `shard ${m.shard} ${m.from} → ${m.to}`
  const milestone = MILESTONES[m.phase]
  if ((!before || before.phase !== m.phase) && milestone) {
    const bad = m.phase === 'failed' || m.phase === 'aborted' || m.phase === 'aborting' || m.phase === 'skipped'
    const detail = m.phase === 'done' ? ` — ${formatBytes(m.progress.bytes)} copied` : bad && m.reason ? ` — ${m.reason}` : ''
    lines.push({at, level: m.phase === 'failed' ? 'error' : bad ? 'warn' : 'info', text: `${what}: ${milestone}${detail}`})
  } else if (m.sourceAbandoned && (!before?.sourceAbandoned || m.sourceAbandoned.at !== before.sourceAbandoned.at || m.sourceAbandoned.sourceRefillAt !== before.sourceAbandoned.sourceRefillAt)) {
    // A second refill without the source (the destination restarted again: `at` changes) is a loss as well.
    // The operator's way out of a wait for a source gone for good (sourceAbandon.ts): data lost, not a retry.
    lines.push({at, level: 'warn', text: `${what}: ${m.reason ?? `went on without source ${m.from}`}`})
  } else if (before && before.phase === m.phase && !isTerminal(m.phase) && m.reason && m.reason !== before.reason) {
    // A copy held by the throttle is waiting its turn, not failing.
    lines.push(isThrottleHold(m.reason) ? {at, level: 'info', text: `${what}: ${m.reason}`} : {at, level: 'warn', text: `${what}: retrying: ${m.reason}`})
  }
  if (m.progress.stalled && !before?.progress.stalled) lines.push({at, level: 'warn', text: `${what}: copy stalled`})
  if (m.cancelRequested && !before?.cancelRequested) lines.push({at, level: 'warn', text: `${what}: cancel requested`})
  if (m.abandonSourceRequested && !before?.abandonSourceRequested) lines.push({at, level: 'warn', text: `${what}: source ${m.from} abandoned by the operator (--accept-data-loss)`})
  warningLines(before, m, what, at, lines)
}

/**
 * warningLines logs each warning a move record gained since `before` (keys are unique per
 * happening: a rewrite of the record adds no line), an error with its way out when it may have
 * lost acknowledged keys. Not on the first read: the trouble panel lists those still open.
 */
function warningLines(before: Move | undefined, m: Move, what: string, at: number, lines: LogLine[]): void {
  if (!before) return
  const seen = new Set((before.warnings ?? []).map((w) => w.key))
  for (const w of m.warnings ?? []) {
    if (seen.has(w.key) || w.acknowledgedAt !== undefined) continue
    lines.push(w.mayHaveLostData ? {at, level: 'error', text: `${what}: warning: ${w.text} (way out: ${lossWayOut(m.id)})`} : {at, level: 'warn', text: `${what}: warning: ${w.text}`})
  }
}

/**
 * autopilotLines reports what changed in the autopilot's state: a new leader, each new
 * decision with its reason (a heal is a warning: a node is gone), and each outcome when it
 * arrives. A decision repeated check after check is refreshed in place by the autopilot
 * (same kind, new time); it is logged once, not every interval. When the first state seen
 * already holds a history, only its latest decision is reported.
 */
function autopilotLines(before: AutopilotState | null, after: AutopilotState, at: number, lines: LogLine[]): void {
  if (before?.leader !== after.leader) lines.push({at, level: 'info', text: `autopilot: ${after.leader} leads${after.dryRun ? ' (dry run)' : ''}`})
  const identity = (d: DecisionRecord) => `${d.at} ${d.kind}`
  const known = new Map((before?.decisions ?? []).map((d) => [identity(d), d]))
  const afterIds = new Set(after.decisions.map(identity))
  const lastBefore = before?.decisions.at(-1)
  const refreshed = lastBefore !== undefined && !afterIds.has(identity(lastBefore)) ? lastBefore : undefined
  const fresh = before === null ? after.decisions.slice(-1) : after.decisions
  for (const d of fresh) {
    const prev = known.get(identity(d))
    if (prev) {
      if (prev.outcome === null && d.outcome !== null) lines.push({at, level: d.outcome.startsWith('failed') ? 'error' : 'info', text: `autopilot ${d.kind}${d.plan ? ` ${d.plan}` : ''}: ${d.outcome}`})
      continue
    }
    if (refreshed && d === after.decisions.at(-1) && d.kind === refreshed.kind && d.plan === null && refreshed.plan === null) continue
    lines.push({at, level: d.kind === 'heal' ? 'warn' : 'info', text: `autopilot ${d.kind}: ${d.reason}${d.plan ? ` (plan ${d.plan})` : ''}`})
    if (d.outcome !== null) lines.push({at, level: d.outcome.startsWith('failed') ? 'error' : 'info', text: `autopilot ${d.kind}${d.plan ? ` ${d.plan}` : ''}: ${d.outcome}`})
  }
}

function executorLine(ev: ExecutorEvent): LogLine {
  const at = Date.parse(ev.at)
  switch (ev.type) {
    case 'phase':
      return {at, level: ev.phase === 'failed' ? 'error' : 'info', text: `shard ${ev.shard} ${ev.from} → ${ev.to}: ${ev.phase}${ev.reason ? ` — ${ev.reason}` : ''}`}
    case 'progress':
      return {at, level: ev.stalled ? 'warn' : 'info', text: `move ${ev.move}: ${ev.bytes} bytes copied`}
    case 'retry':
      return {at, level: 'warn', text: `move ${ev.move}: retrying ${ev.what}: ${ev.error}`}
    case 'info':
      return {at, level: 'info', text: ev.message}
    case 'throttle':
      return {at, level: ev.action === 'cut' ? 'warn' : 'info', text: describeThrottleStep(ev)}
  }
}

/** formatRate renders a copy rate, `unlimited` for null. */
export function formatRate(bytesPerSec: number | null): string {
  return bytesPerSec === null ? 'unlimited' : `${formatBytes(Math.round(bytesPerSec))}/s`
}
