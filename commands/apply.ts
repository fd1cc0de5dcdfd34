import {createInterface} from 'node:readline/promises'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../src/cli/baseCommand.js'
import {describeEvent, makeProgressSink} from '../src/cli/executorProgress.js'
import {UserError} from '../src/errors/errors.js'
import {type ApplyResult, applyPlan} from '../src/executor/applyPlan.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../src/executor/executorEnv.js'
import {readPlanForApply} from '../src/executor/planInput.js'
import {type Preflight} from '../src/executor/planPreflight.js'
import {parseWindow} from '../src/executor/window.js'
import {formatBytes, parseDuration, parseRate} from '../src/model/units.js'

function flagValue<T>(flag: string, parse: (s: string) => T, raw: string | undefined, example: string): T | undefined {
  if (raw === undefined) return undefined
  try {
    return parse(raw)
  } catch (err) {
    throw new UserError('BAD_INPUT', `${flag}: ${(err as Error).message}`, `e.g. ${flag} ${example}`)
  }
}

export default class Apply extends EtcdCommand {
  static override summary = "Run a plan's moves and splits: throttled, resumable, with a no-freeze cutover."
  static override description = 'Verifies the plan (hash, staleness), shows what it will do, asks for confirmation unless --yes, takes the executor lock and runs the actions as concurrently as the limits allow. Kill it at any point and run it again (or `apply --resume`): every move continues from its last persisted phase.'
  static override examples = ['<%= config.bin %> apply plans/default-20261129T0900.json', '<%= config.bin %> apply plan.json --yes --throttle 50MiB/s --max-concurrent 4 --per-node 1', '<%= config.bin %> apply --resume --yes --json']
  static override args = {plan: Args.string({description: 'plan file (from `shardctl plan`)'})}
  static override flags = {
    resume: Flags.boolean({description: 'continue every unfinished move recorded in etcd'}),
    yes: Flags.boolean({char: 'y', description: 'do not ask for confirmation (CI)'}),
    throttle: Flags.string({description: 'global copy rate, e.g. 50MiB/s (default unlimited; `throttle set` overrides it live)'}),
    'node-throttle': Flags.string({description: 'copy rate per source and per target node, e.g. 20MiB/s'}),
    'max-concurrent': Flags.integer({description: 'moves running at once', default: 4, min: 1, max: 256}),
    'per-node': Flags.integer({description: 'moves touching one node at once', default: 1, min: 1, max: 64}),
    'drain-timeout': Flags.string({description: "how long to wait for the source's in-flight requests", default: '30s'}),
    'cleanup-grace': Flags.string({description: 'how long the source keeps its copy after release (rollback window)', default: '0s'}),
    window: Flags.string({description: 'maintenance window HH:MM-HH:MM (local time): moves start and copy only inside it'}),
    'chunk-size': Flags.string({description: 'copy chunk size', default: '256KiB'}),
  }

  async run(): Promise<ApplyResult> {
    const {args, flags} = await this.parse(Apply)
    if (!args.plan && !flags.resume) throw new UserError('BAD_INPUT', 'apply needs a plan file, or --resume', 'e.g. shardctl apply plans/default-….json, or shardctl apply --resume')
    const plan = args.plan ? readPlanForApply(args.plan) : undefined
    const throttle = flagValue('--throttle', parseRate, flags.throttle, '50MiB/s') ?? null
    const nodeThrottle = flagValue('--node-throttle', parseRate, flags['node-throttle'], '20MiB/s') ?? null
    const window = flagValue('--window', parseWindow, flags.window, '01:00-05:00')
    const options = {
      ...DEFAULT_EXECUTOR_OPTIONS,
      drainTimeoutMs: flagValue('--drain-timeout', parseDuration, flags['drain-timeout'], '30s')!,
      cleanupGraceMs: flagValue('--cleanup-grace', parseDuration, flags['cleanup-grace'], '5m')!,
      chunkBytes: Math.max(4096, flagValue('--chunk-size', (s) => parseRate(s), flags['chunk-size'], '256KiB')!),
    }
    const interactive = process.stdin.isTTY === true && !flags.yes
    if (!flags.yes && !interactive) throw new UserError('BAD_INPUT', 'refusing to apply without confirmation: stdin is not a terminal', 'pass --yes to apply non-interactively (CI)')
    const ctx = await this.services(flags)
    const sink = makeProgressSink({json: this.jsonEnabled(), tty: process.stdout.isTTY === true}, (line) => process.stdout.write(`${line}\n`))
    const abort = new AbortController()
    const onSignal = () => abort.abort()
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    try {
      const result = await applyPlan(
        ctx,
        {
          plan,
          limits: {maxConcurrent: flags['max-concurrent'], perNode: flags['per-node']},
          throttle,
          nodeThrottle,
          window,
          options,
          holder: `shardctl apply ${plan ? plan.id : '--resume'}`,
          confirm: (p) => this.confirm(p, interactive),
        },
        {now: () => Date.now(), sleep: (ms, signal) => sleepFor(ms, undefined, {signal}).catch(() => {}), emit: (ev) => sink.emit(ev)},
        abort.signal,
      )
      sink.stop()
      this.renderResult(result)
      // A move that had to abort or fail is an operation failure for scripts and CI.
      if ((result.counts.aborted ?? 0) + (result.counts.failed ?? 0) > 0) process.exitCode = 1
      return result
    } finally {
      sink.stop()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }

  /** logJson prints the final result as one line, so --json output is one JSON value per line. */
  override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify({type: 'result', ...(json as object)})}\n`)
  }

  private async confirm(p: Preflight | undefined, interactive: boolean): Promise<boolean> {
    if (p && !this.jsonEnabled()) {
      this.log(`Plan ${p.planId} for cluster ${p.cluster}: ${p.runnable} action(s) to run, ${p.stale} stale${p.fingerprintMatches ? '' : ' (the shard map changed since the plan was made)'}`)
      for (const v of p.verdicts) {
        const a = v.action
        const what = a.kind === 'move' ? `move shard ${a.shard} ${a.from} → ${a.to} (${formatBytes(a.bytes)}, ${a.reason.kind})` : `split shard ${a.shard} at ${a.at}`
        this.log(`  ${v.ok ? '✓' : '✗'} ${what}${v.reason ? ` — skipped: ${v.reason}` : ''}`)
      }
    }
    if (!interactive) return true
    const rl = createInterface({input: process.stdin, output: process.stdout})
    try {
      const answer = await rl.question(p ? 'Apply these actions? [y/N] ' : 'Resume unfinished moves? [y/N] ')
      return /^y(es)?$/i.test(answer.trim())
    } finally {
      rl.close()
    }
  }

  private renderResult(r: ApplyResult): void {
    const counts = Object.entries(r.counts)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')
    this.log(`${r.stopped ? 'Stopped' : 'Finished'}: ${counts || 'no moves'}; copied ${formatBytes(r.bytesCopied)} in ${(r.durationMs / 1000).toFixed(1)} s`)
    for (const m of r.moves.filter((m) => m.phase !== 'done')) this.log(`  ${describeEvent({type: 'phase', move: m.id, shard: m.shard, from: m.from, to: m.to, phase: m.phase, reason: m.reason, at: ''})}`)
    if (r.stopped) this.log('Resume with `shardctl apply --resume`.')
  }
}
