import {Args} from '@oclif/core'
import {JsonLinesCommand} from '../../src/cli/baseCommand.js'
import {askYesNo} from '../../src/cli/confirmation.js'
import {makeProgressSink, progressMode} from '../../src/cli/executorProgress.js'
import {describePreflight, EXECUTOR_FLAGS, executorInput, realDeps, REDIS_MOVE_FLAGS, redisMoveOptions, withSignals} from '../../src/cli/executorFlags.js'
import {afterConfirmedError, drainOutcome} from '../../src/cli/runOutcome.js'
import {UserError} from '../../src/errors/errors.js'
import {tlsPathsOf} from '../../src/cli/flags.js'
import {useDataPlaneTls} from '../../src/security/processTls.js'
import {type DrainResult, drainNode} from '../../src/executor/drainNode.js'

export default class NodeDrain extends JsonLinesCommand {
  static override summary = 'Empty a node: mark it draining, plan the moves of all its replicas, run them.'
  static override description = 'Takes the executor lock like `apply`; resumable with `apply --resume`. Routers drain their connection pools to the node once it leaves the shard map; then `node remove` succeeds.'
  static override examples = ['<%= config.bin %> node drain n3 --yes --throttle 20MiB/s']
  static override args = {id: Args.string({description: 'node id', required: true})}
  static override flags = {...REDIS_MOVE_FLAGS, ...EXECUTOR_FLAGS}

  async run(): Promise<DrainResult> {
    const {args, flags} = await this.parse(NodeDrain)
    // From the confirmation on, the drain may record moves: an error then says how to continue them.
    let confirmed = false
    const input = executorInput(flags, `shardctl node drain ${args.id}`, async (p, interactive) => {
      // When asking, the preflight goes where the question does (stderr, even with --json): what is confirmed is always seen.
      if (p && (interactive || !this.jsonEnabled())) for (const line of describePreflight(p)) (interactive ? process.stderr.write(`${line}\n`) : this.log(line))
      if (interactive && !(await askYesNo(`Drain ${args.id}?`))) throw new UserError('DECLINED', `declined: node ${args.id} was left as it was and no move was recorded`, 'run it again and answer y, or pass --yes')
      confirmed = true
      return true
    })
    const ctx = await this.services(flags)
    await useDataPlaneTls(ctx, tlsPathsOf(flags), 'the executor')
    const sink = makeProgressSink(progressMode(this.jsonEnabled(), {stderr: process.stderr.isTTY === true}), (line) => process.stdout.write(`${line}\n`))
    try {
      const result = await withSignals((signal) => drainNode(ctx, args.id, {...input, redis: redisMoveOptions(flags)}, realDeps((ev) => sink.emit(ev)), signal))
      sink.stop()
      this.log(result.message)
      const outcome = drainOutcome(result)
      if (outcome.line) process.stderr.write(`${outcome.line}\n`)
      if (outcome.code) this.setExitCode(outcome.code)
      return result
    } catch (err) {
      throw afterConfirmedError(err, confirmed)
    } finally {
      sink.stop()
    }
  }
}
