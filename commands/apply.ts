import {Args, Flags} from '@oclif/core'
import {JsonLinesCommand} from '../src/cli/baseCommand.js'
import {askYesNo} from '../src/cli/confirmation.js'
import {describeEvent, makeProgressSink, progressMode} from '../src/cli/executorProgress.js'
import {describePreflight, EXECUTOR_FLAGS, executorInput, realDeps, REDIS_MOVE_FLAGS, redisMoveOptions, withSignals} from '../src/cli/executorFlags.js'
import {afterConfirmedError, applyOutcome} from '../src/cli/runOutcome.js'
import {UserError} from '../src/errors/errors.js'
import {durationFlag, tlsPathsOf} from '../src/cli/flags.js'
import {useDataPlaneTls} from '../src/security/processTls.js'
import {readPlanFile} from '../src/plans/planFiles.js'
import {type ApplyResult, executePlan} from '../src/executor/executePlan.js'
import {requirePlanSignature} from '../src/plans/signing.js'
import {refuseAllStale, refuseAnyStale, stalePolicyOf} from '../src/executor/planPreflight.js'
import {refuseOldPlan} from '../src/plans/planAge.js'
import {formatBytes} from '../src/model/units.js'
import {DEFAULT_PLAN_OPTIONS} from '../src/planner/options.js'
import {startTopSession, type TopSession} from '../src/tui/topSession.js'

export default class Apply extends JsonLinesCommand {
  static override summary = "Run a plan's moves and splits: throttled, resumable, with a no-freeze cutover."
  static override description = 'Verifies the plan\'s hash, takes the executor lock (exit 8 at once while another executor holds it), then checks every action against the shard map as it is under the lock: a stale action (its shard changed, a split\'s new id already taken, a shard another plan\'s unfinished move is changing, a move onto a node cordoned or draining since the plan was made) is skipped with a reason (`--stale skip`, the default), or the whole plan is refused (`--stale refuse`, the default with --require-signature: exit 7, nothing recorded). A plan none of whose actions can still run is refused (exit 7, nothing recorded), and so is one made longer ago than --max-plan-age. A plan that moves a replica to or from a node that another plan\'s unfinished moves (recorded, not yet done) also change is refused (exit 7, nothing changed): those would still run after it, on load it did not count; finish them (`apply --resume`) or cancel them, then plan again. Another plan\'s unfinished move that this plan makes too (same shard, source and destination) is no conflict, and this run runs it unless it is aborting or rolling back; another plan\'s unstarted move of a shard this plan moves first is recorded skipped, unless it takes the shard off a draining node (a heal of a dead node, or a drain) and this plan\'s action does not: that plan is refused (exit 7, nothing changed), since the shard would keep its replica on that node. A plan whose id is already recorded for other moves (another plan under the same id) is refused (exit 2, nothing changed), and so is a plan made from another incarnation of the cluster (`cluster init --force` since, or another cluster of that name: exit 2), and a plan naming a node the cluster does not have (exit 7). It shows that, asks for confirmation unless --yes, and runs exactly what it showed, as concurrently as the limits allow; if the map changed before the answer, or a node was marked draining meanwhile so that the plan now conflicts with another plan\'s unfinished moves, it refuses (exit 7, nothing changed): run it again to see the new check. Kill it at any point and run it again (or `apply --resume`): every move continues from its last persisted phase.'
  static override examples = ['<%= config.bin %> apply plans/default-20261129T0900.json', '<%= config.bin %> apply plan.json --yes --throttle 50MiB/s --max-concurrent 4 --per-node 1', '<%= config.bin %> apply --resume --yes --json', '<%= config.bin %> apply plan.json --require-signature ci-plan.pub --max-plan-age 2h']
  // ignoreStdin: oclif would otherwise take piped stdin as the plan path (`apply --resume` in a pipeline).
  static override args = {plan: Args.string({description: 'plan file (from `shardctl plan`)', ignoreStdin: true})}
  static override flags = {
    resume: Flags.boolean({description: 'continue every unfinished move recorded in etcd'}),
    'require-signature': Flags.string({description: 'refuse the plan unless it is signed (`plan --sign`) by the Ed25519 key whose public half (PEM) is in this file, and unaltered since'}),
    stale: Flags.string({description: 'a plan some of whose actions are stale: skip them and run the rest, or refuse the whole plan (exit 7, nothing recorded); default refuse with --require-signature (the signer approved the plan whole), skip otherwise', options: ['skip', 'refuse']}),
    'max-plan-age': durationFlag({description: 'refuse (exit 7, nothing changed) a plan made longer ago than this, e.g. 2h: a signature never expires, and an old plan pictures a cluster that moved on'}),
    tui: Flags.boolean({description: 'show the live dashboard (as `shardctl top`) while the moves run; q stops the executor cleanly'}),
    ...REDIS_MOVE_FLAGS,
    ...EXECUTOR_FLAGS,
  }

  async run(): Promise<ApplyResult> {
    const {args, flags} = await this.parse(Apply)
    if (!args.plan && !flags.resume) throw new UserError('BAD_INPUT', 'apply needs a plan file, or --resume', 'e.g. shardctl apply plans/default-….json, or shardctl apply --resume')
    // Both given, --resume was silently dropped: the plan ran, and the other plans' unfinished moves the operator asked to continue did not.
    if (args.plan && flags.resume) throw new UserError('BAD_INPUT', 'apply takes a plan file or --resume, not both: a plan file runs that plan (and continues its own recorded moves), --resume continues every unfinished move', 'run `shardctl apply --resume` first, then `shardctl apply PLAN`; or drop one')
    const plan = args.plan ? readPlanFile(args.plan) : undefined
    if (flags['require-signature'] !== undefined) requirePlanSignature(plan, flags['require-signature'])
    if (!plan && (flags.stale !== undefined || flags['max-plan-age'] !== undefined)) throw new UserError('BAD_INPUT', `${flags.stale === undefined ? '--max-plan-age' : '--stale'} judges a plan file, and apply --resume has none`, 'pass the plan file instead (`shardctl apply PLAN`, which continues its recorded moves), or drop the flag')
    if (plan && flags['max-plan-age'] !== undefined) refuseOldPlan(plan, flags['max-plan-age'], Date.now())
    const stale = stalePolicyOf(flags.stale, flags['require-signature'] !== undefined)
    const tui = flags.tui && !this.jsonEnabled()
    if (tui && !(process.stdout.isTTY && process.stdin.isTTY)) throw new UserError('BAD_INPUT', '--tui needs an interactive terminal', 'drop --tui (progress lines), or use --json')
    const quit = new AbortController()
    // From the confirmation on, the run may record moves: an error then says how to continue them.
    let confirmed = false
    let session: TopSession | undefined
    const input = executorInput(flags, `shardctl apply ${plan ? plan.id : '--resume'}`, async (p, interactive) => {
      // When asking, the preflight goes where the question does (stderr, even with --json): what is confirmed is always seen.
      if (p && (interactive || !this.jsonEnabled())) for (const line of describePreflight(p)) (interactive ? process.stderr.write(`${line}\n`) : this.log(line))
      // Nothing of the plan would run: refused (exit 7) before anything is recorded, as `plan verify` refuses it.
      if (p) refuseAllStale(p)
      // A signed plan runs whole or not at all unless --stale skip: refused before anything is recorded.
      if (p && stale === 'refuse') refuseAnyStale(p)
      const ok = !interactive || (await askYesNo(p ? 'Apply these actions?' : 'Resume unfinished moves?'))
      if (!ok) throw new UserError('DECLINED', 'declined: nothing was recorded or changed', 'run it again and answer y, or pass --yes')
      confirmed = true
      // The dashboard starts once confirmed, so the question is asked on a plain terminal.
      if (tui) session = startTopSession(ctx, {target: plan?.options.maxImbalance ?? DEFAULT_PLAN_OPTIONS.maxImbalance, onQuit: () => quit.abort()})
      return ok
    })
    const ctx = await this.services(flags)
    await useDataPlaneTls(ctx, tlsPathsOf(flags), 'the executor')
    const sink = makeProgressSink(progressMode(this.jsonEnabled(), {stderr: process.stderr.isTTY === true && !tui}), (line) => process.stdout.write(`${line}\n`))
    // With --tui, phases and progress come from the etcd watch; retries and notices go to its event log.
    const emit = (ev: Parameters<typeof sink.emit>[0]) => (session ? (ev.type === 'retry' || ev.type === 'info') && session.store.dispatch({type: 'executor', event: ev}) : sink.emit(ev))
    try {
      const redis = redisMoveOptions(flags)
      const result = await withSignals((signal) => executePlan(ctx, {...input, plan, redis}, realDeps(emit), AbortSignal.any([signal, quit.signal])))
      await session?.stop()
      sink.stop()
      this.renderResult(result)
      // Interrupted, or a move that had to abort or fail, is not success for scripts and CI.
      const outcome = applyOutcome(result)
      if (outcome.line) process.stderr.write(`${outcome.line}\n`)
      if (outcome.code) this.setExitCode(outcome.code)
      return result
    } catch (err) {
      throw afterConfirmedError(err, confirmed)
    } finally {
      await session?.stop()
      sink.stop()
    }
  }

  private renderResult(r: ApplyResult): void {
    const counts = Object.entries(r.counts)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')
    this.log(`${r.stopped ? 'Stopped' : 'Finished'}: ${counts || 'no moves'}; copied ${formatBytes(r.bytesCopied)} in ${(r.durationMs / 1000).toFixed(1)} s`)
    for (const m of r.moves.filter((m) => m.phase !== 'done')) this.log(`  ${describeEvent({type: 'phase', move: m.id, shard: m.shard, from: m.from, to: m.to, phase: m.phase, reason: m.reason, at: ''})}`)
    // A `done` move can carry one too (a master restarted meanwhile): the phase alone would read as success.
    for (const m of r.moves) for (const w of m.warnings) this.log(`  warning: ${w.text}`)
  }
}
