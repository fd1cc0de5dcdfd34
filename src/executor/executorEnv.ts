import {type NodeView} from './clusterView.js'
import {RATE_WINDOW_MS} from './copyProgress.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {type Compare} from '../etcd/etcdStore.js'
import {type NodeClient} from '../node/nodeClient.js'
import {type ControlAction} from './adaptiveThrottle.js'
import {type MoveEffects} from './moveEffects.js'
import {type CopyAdmission} from './copyAdmission.js'
import {type TokenBucket} from '../throttle/tokenBucket.js'
import {type LockState} from '../redis/lockGate.js'

/** ExecutorOptions tune how moves run. */
export interface ExecutorOptions {
  /** chunkBytes caps one copy frame (one destination transaction); frames adapt to about 0.1 s of the move's rate below it. */
  chunkBytes: number
  /** drainTimeoutMs bounds the wait for the source's in-flight requests to reach zero. */
  drainTimeoutMs: number
  /** cleanupGraceMs is how long the source keeps its copy after release (rollback window). */
  cleanupGraceMs: number
  /** barrierTimeoutMs bounds one wait for routers and replicas to reach an epoch. */
  barrierTimeoutMs: number
  /** verifyRounds bounds digest compare-and-repair rounds. */
  verifyRounds: number
  /**
   * nodeRetryMs is how long a node may stay unreachable before the move fails safe, at
   * rf 1 once the destination is promoted (where a dead destination blocks writes: both
   * copies must ack, so abort fast). See nodeRetryMs in moveEffects.ts.
   */
  nodeRetryMs: number
  /** nodeRetryReplicatedMs is the same at rf >= 2, or while the destination learns, where writes go on without the node: ride out a restart. */
  nodeRetryReplicatedMs: number
  /** rateWindowMs is the window of a copy's rate in its progress (`moves show`, `top`, the ETA): `--rate-window`. */
  rateWindowMs: number
}

/** MIN_CHUNK_BYTES is the smallest copy frame `--chunk-size` takes; a smaller value is a usage error (exit 2), not raised silently. */
export const MIN_CHUNK_BYTES = 4096

/** DEFAULT_EXECUTOR_OPTIONS are the defaults `apply` uses. */
export const DEFAULT_EXECUTOR_OPTIONS: ExecutorOptions = {
  chunkBytes: 4 * 1024 * 1024,
  drainTimeoutMs: 30_000,
  cleanupGraceMs: 0,
  barrierTimeoutMs: 30_000,
  verifyRounds: 5,
  nodeRetryMs: 5_000,
  nodeRetryReplicatedMs: 30_000,
  rateWindowMs: RATE_WINDOW_MS,
}

/**
 * ThrottleStepEvent is one step of `--throttle auto` (about one a second): the reading it
 * acted on (null fields: none), the action and the rate set, and the rate the copies
 * flowed at (null: unknown). `signal` names the reading, e.g. "routers' client p99".
 */
export interface ThrottleStepEvent {
  type: 'throttle'
  signal: string
  p99Ms: number | null
  samples: number | null
  windowMs: number | null
  ageMs: number | null
  targetP99Ms: number
  action: ControlAction
  rateBytesPerSec: number
  flowingBytesPerSec: number | null
  at: string
}

/** ExecutorEvent is something worth telling the operator (rendered as spinner text, a log line or a JSON line). */
export type ExecutorEvent =
  | {type: 'phase'; move: string; shard: number; from: string; to: string; phase: string; reason?: string | null; at: string}
  /** progress: `bytes` and `dataRateBytesPerSec` count key and value bytes; `rateBytesPerSec` is the copy stream's (wire) rate, what the throttles spend; `expectedBytes` is what `bytes` run to (MoveProgress.expectedBytes). */
  | {type: 'progress'; move: string; bytes: number; keys: number; totalBytes: number; expectedBytes?: number; rateBytesPerSec: number; dataRateBytesPerSec: number; stalled: boolean; at: string}
  | {type: 'retry'; move: string; what: string; error: string; at: string}
  | {type: 'info'; message: string; at: string}
  | ThrottleStepEvent

/** Throttles are the live copy-rate limits: one global bucket and one per node. */
export interface Throttles {
  global: TokenBucket
  node(id: string): TokenBucket
}

/** LiveControl is the operator's control record as the executor last saw it (polled about twice a second by the executor loop). */
export interface LiveControl {
  paused: boolean
  /** keysPerSec is the operator's live keys/s per redis move (`throttle set --keys-per-sec`); null: the move's own option. */
  keysPerSec?: number | null
  /** inWindow is false outside the maintenance window (copies pause, no new move starts). */
  inWindow: () => boolean
}

/**
 * ExecutorEnv is everything a move runner touches, injected: the store context, the fence
 * of the executor lock, node clients, throttles, control, a clock and a sleep that wakes
 * early when the executor stops.
 */
export interface ExecutorEnv {
  ctx: ServiceContext
  fence: Compare
  client(nodeId: string): Promise<NodeClient>
  throttles: Throttles
  control: LiveControl
  options: ExecutorOptions
  now(): number
  sleep(ms: number): Promise<void>
  /** runningMoves is how many moves share the global throttle now, when there is no {@link ExecutorEnv.copies} (optional: 1 assumed). */
  runningMoves?(): number
  /**
   * copies admits copies under the throttles so none runs below the 16KiB/s floor
   * (copyAdmission.ts): the cluster rate is split over the copies it admitted. Absent: every
   * copy runs, splitting the rate over {@link ExecutorEnv.runningMoves}.
   */
  copies?: CopyAdmission
  stopped(): boolean
  /**
   * lockState reads the executor lock's lease synchronously (no I/O): the redis runner asks it
   * before every command that changes the cluster (src/redis/lockGate.ts). Absent: only the
   * fenced etcd writes guard the run.
   */
  lockState?(): LockState
  emit(ev: ExecutorEvent): void
  /** effects performs the move machine's side effects (default: on real nodes through `client`); tests substitute them. */
  effects?: MoveEffects
  /** nodeView reads the registered and alive nodes, shared by the runners (see sharedNodeView); absent: each observation reads them. */
  nodeView?: () => Promise<NodeView>
}
