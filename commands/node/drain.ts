import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {makeProgressSink} from '../../src/cli/executorProgress.js'
import {askYesNo, describePreflight, EXECUTOR_FLAGS, executorInput, realDeps, withSignals} from '../../src/cli/executorFlags.js'
import {type DrainResult, drainNode} from '../../src/executor/drainNode.js'

export default class NodeDrain extends EtcdCommand {
  static override summary = 'Empty a node: mark it draining, plan the moves of all its replicas, run them.'
  static override description = 'Takes the executor lock like `apply`; resumable with `apply --resume`. Routers drain their connection pools to the node once it leaves the shard map; then `node remove` succeeds.'
  static override examples = ['<%= config.bin %> node drain n3 --yes --throttle 20MiB/s']
  static override args = {id: Args.string({description: 'node id', required: true})}
  static override flags = {...EXECUTOR_FLAGS}

  async run(): Promise<DrainResult> {
    const {args, flags} = await this.parse(NodeDrain)
    const input = executorInput(flags, `shardctl node drain ${args.id}`, async (p, interactive) => {
      if (p && !this.jsonEnabled()) for (const line of describePreflight(p)) this.log(line)
      return !interactive || askYesNo(`Drain ${args.id}?`)
    })
    const ctx = await this.services(flags)
    const sink = makeProgressSink({json: this.jsonEnabled(), tty: process.stdout.isTTY === true}, (line) => process.stdout.write(`${line}\n`))
    try {
      const result = await withSignals((signal) => drainNode(ctx, args.id, input, realDeps((ev) => sink.emit(ev)), signal))
      sink.stop()
      this.log(result.message)
      return result
    } finally {
      sink.stop()
    }
  }
}
