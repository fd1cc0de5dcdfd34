import {abortableSleep} from '../clock/abortableSleep.js'
import {Flags, type Interfaces} from '@oclif/core'
import {UserError} from '../errors/errors.js'
import {currentTerminals, needsQuestion, type TerminalState} from './confirmation.js'
import {type ApplyDeps, type ApplyInput} from '../executor/executePlan.js'
import {defaultLatencyThrottle} from '../executor/adaptiveThrottle.js'
import {BASELINE_DEFAULTS} from '../executor/latencyBaseline.js'
import {MAX_RATE_WINDOW_MS, MIN_RATE_WINDOW_MS} from '../executor/copyProgress.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent, MIN_CHUNK_BYTES} from '../executor/executorEnv.js'
import {type Preflight} from '../executor/planPreflight.js'
import {parseWindow} from '../executor/window.js'
import {type RedisMoveOptions} from '../redis/redisMoveRunner.js'
import {formatBytes, parseBytes, parseDuration} from '../model/units.js'
import {DATA_PLANE_TLS_FLAGS, bytesFlag, durationFlag, latencyTargetFlag, parseLatencyTargetFlag, rateFlag, rateOrAutoFlag, withDefault} from './flags.js'

/** EXECUTOR_FLAGS are the flags of every command that runs moves (`apply`, `node drain`). */
export const EXECUTOR_FLAGS = {
  yes: Flags.boolean({char: 'y', description: 'do not ask for confirmation (CI)'}),
  throttle: rateOrAutoFlag({description: 'global copy rate, e.g. 50MiB/s, or `auto` to adapt it to the clients\' latency: the routers\' p99 on kv, PING round trips to the moving masters on redis (default unlimited; `throttle set` overrides it live; given, it clears a rate an earlier `throttle set` left, which a run without it keeps); split over the copies running, each given at least 16KiB/s, so a low rate runs fewer copies at once'}),
  'max-client-p99': latencyTargetFlag({description: 'with --throttle auto: the client p99 the copy keeps clients under (kv: the routers\' p99 over about the last second; redis: the moving masters\' PING p99), a duration or a factor of the p99 measured before the moves start (kv: the routers\' p99 over their last 10 s) (2x: twice it, at least 5ms; 25ms when no client traffic is measured); the rate rises while the p99 is under 0.8x this and is cut in proportion to any overshoot', defaultHelp: async () => DEFAULT_MAX_CLIENT_P99}),
  'node-throttle': rateFlag({description: 'copy rate per source and per target node, e.g. 20MiB/s, shared by the node\'s copies, each given at least 16KiB/s (a low rate runs fewer through the node at once)'}),
  'max-concurrent': Flags.integer({description: 'moves running at once', default: 4, min: 1, max: 256}),
  'per-node': Flags.integer({description: 'moves copying out of one node at once', default: 1, min: 1, max: 64}),
  'incoming-per-node': Flags.integer({description: 'moves copying into one node at once', default: 2, min: 1, max: 64}),
  'drain-timeout': durationFlag({description: "how long to wait for the source's in-flight requests", ...withDefault('30s', parseDuration)}),
  'cleanup-grace': durationFlag({description: 'how long the source keeps its copy after release (rollback window)', ...withDefault('0s', parseDuration)}),
  window: Flags.string({description: 'maintenance window HH:MM-HH:MM (local time): moves start and copy only inside it'}),
  'rate-window': durationFlag({description: "window of each copy's rate in its progress (`moves show`, `top`, the ETA, and the flowing rate `--throttle auto` reads): shorter follows a `throttle set` sooner, longer is smoother; 1s to 30s", min: MIN_RATE_WINDOW_MS, max: MAX_RATE_WINDOW_MS, ...withDefault('5s', parseDuration)}),
  'chunk-size': bytesFlag({description: 'largest copy frame, at least 4KiB (frames shrink to about 0.1 s of the throttle below it)', min: MIN_CHUNK_BYTES, ...withDefault('4MiB', parseBytes)}),
  // The executor dials nodes: on a TLS cluster with a certificate of its CA (`cert create-client`).
  ...DATA_PLANE_TLS_FLAGS,
}

/**
 * REDIS_MOVE_FLAGS tune slot migration on a redis-engine cluster, for every command that runs
 * moves there (`apply`, `node drain`); kv clusters ignore them.
 */
export const REDIS_MOVE_FLAGS = {
  'allow-big-keys': Flags.boolean({description: 'redis engine: migrate keys above --big-key-limit too (MIGRATE blocks both masters while it copies one)'}),
  // No oclif defaults here: only flags given reach the options, so a kv cluster can refuse them (defaults: DEFAULT_REDIS_MOVE_OPTIONS).
  'big-key-limit': bytesFlag({description: 'redis engine: a move whose slots hold a key above this is refused before anything changes; one written since stops the move (failed) before its MIGRATE (default 8MiB)'}),
  'keys-per-sec': Flags.integer({description: 'redis engine: most keys one move migrates per second (the byte rate is --throttle)', min: 1}),
  'batch-keys': Flags.integer({description: 'redis engine: most keys per MIGRATE (default 100)', min: 1, max: 10_000}),
}

/**
 * redisMoveOptions turns the {@link REDIS_MOVE_FLAGS} given into the executor's redis options;
 * flags not given are absent (the runner's defaults apply), so the executor can refuse them on
 * a kv cluster (refuseEngineOnlyOptions) instead of ignoring them silently.
 */
export function redisMoveOptions(flags: Interfaces.InferredFlags<typeof REDIS_MOVE_FLAGS>): Partial<RedisMoveOptions> {
  const given: Partial<RedisMoveOptions> = {}
  if (flags['allow-big-keys'] === true) given.allowBigKeys = true
  if (flags['big-key-limit'] !== undefined) given.bigKeyBytes = flags['big-key-limit']
  if (flags['keys-per-sec'] !== undefined) given.keysPerSec = flags['keys-per-sec']
  if (flags['batch-keys'] !== undefined) given.keysPerBatch = flags['batch-keys']
  return given
}

type ExecutorFlagValues = Interfaces.InferredFlags<typeof EXECUTOR_FLAGS>

/** DEFAULT_MAX_CLIENT_P99 is --max-client-p99 when not given (applied here, not as the flag's default, so a value given without --throttle auto can be refused). */
const DEFAULT_MAX_CLIENT_P99 = '2x'

function flagValue<T>(flag: string, parse: (s: string) => T, raw: string | undefined, example: string): T | undefined {
  if (raw === undefined) return undefined
  try {
    return parse(raw)
  } catch (err) {
    throw new UserError('BAD_INPUT', `${flag}: ${(err as Error).message}`, `e.g. ${flag} ${example}`)
  }
}

/**
 * executorInput turns the flags into the executor's input (everything but the plan).
 * Throws UserError(BAD_INPUT) naming the flag for a malformed value, or when confirmation
 * would be needed but the question could not be seen or answered (see {@link needsQuestion})
 * and --yes was not given.
 */
export function executorInput(flags: ExecutorFlagValues, holder: string, confirm: (p: Preflight | undefined, interactive: boolean) => Promise<boolean>, tty: TerminalState = currentTerminals()): Omit<ApplyInput, 'plan'> {
  // A latency target only steers --throttle auto: given alone it would be ignored without a word.
  if (flags['max-client-p99'] !== undefined && flags.throttle !== 'auto') throw new UserError('BAD_INPUT', '--max-client-p99 only steers --throttle auto, and this run has no --throttle auto', 'add --throttle auto, or drop --max-client-p99')
  const target = flags['max-client-p99'] ?? parseLatencyTargetFlag(DEFAULT_MAX_CLIENT_P99)
  const interactive = needsQuestion(flags.yes, tty, 'run moves')
  return {
    limits: {maxConcurrent: flags['max-concurrent'], perNode: flags['per-node'], incomingPerNode: flags['incoming-per-node']},
    throttle: flags.throttle === 'auto' ? null : (flags.throttle ?? null),
    throttleGiven: flags.throttle !== undefined,
    adaptive: flags.throttle === 'auto' ? defaultLatencyThrottle('ms' in target ? target.ms : BASELINE_DEFAULTS.fallbackMs) : undefined,
    latencyFactor: flags.throttle === 'auto' && 'factor' in target ? target.factor : undefined,
    nodeThrottle: flags['node-throttle'] ?? null,
    window: flagValue('--window', parseWindow, flags.window, '01:00-05:00'),
    options: {
      ...DEFAULT_EXECUTOR_OPTIONS,
      drainTimeoutMs: flags['drain-timeout'],
      cleanupGraceMs: flags['cleanup-grace'],
      chunkBytes: flags['chunk-size'],
      rateWindowMs: flags['rate-window'],
    },
    holder,
    confirm: (p) => confirm(p, interactive),
  }
}

/** realDeps are the executor's side effects in production: wall clock, abortable sleep, events to `emit`. */
export function realDeps(emit: (ev: ExecutorEvent) => void): ApplyDeps {
  return {now: () => Date.now(), sleep: abortableSleep, emit}
}

/** describePreflight renders what a plan will do, one line per action. */
export function describePreflight(p: Preflight): string[] {
  const lines = [`Plan ${p.planId} for cluster ${p.cluster}: ${p.runnable} action(s) to run, ${p.stale} stale${p.fingerprintMatches ? '' : ' (the shard map changed since the plan was made)'}`]
  for (const v of p.verdicts) {
    const a = v.action
    const what = a.kind === 'move' ? `move shard ${a.shard} ${a.from} → ${a.to} (${formatBytes(a.bytes)}, ${a.reason.kind})` : `split shard ${a.shard} at ${a.at}`
    lines.push(`  ${v.ok ? '✓' : '✗'} ${what}${v.reason ? ` — skipped: ${v.reason}` : ''}`)
  }
  return lines
}

/** withSignals runs `fn` with an AbortSignal fired by SIGINT/SIGTERM, so the executor stops cleanly. */
export async function withSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController()
  const onSignal = () => abort.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    return await fn(abort.signal)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
