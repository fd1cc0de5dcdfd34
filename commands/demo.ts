import {Flags} from '@oclif/core'
import {BaseCommand} from '../src/cli/baseCommand.js'
import {UserError} from '../src/errors/errors.js'
import {plainReporter, summaryLines, tuiReporter} from '../src/demo/demoRender.js'
import {type DemoSummary, runDemo} from '../src/demo/demoService.js'
import {LOCAL_DIR} from '../src/localEtcd/localEtcdService.js'
import {parseDuration, parseRate} from '../src/model/units.js'
import {durationFlag, rateFlag, withDefault} from '../src/cli/flags.js'
import {DEFAULT_PLAN_OPTIONS} from '../src/planner/options.js'
import {startTopSession, type TopSession} from '../src/tui/topSession.js'

export default class Demo extends BaseCommand {
  static override summary = 'Run the whole story on local processes: skewed load, a hot node, a throttled rebalance under load, a summary.'
  static override description =
    'Starts a private etcd, storage nodes and a router on 127.0.0.1 (nothing needed but the etcd binary), drives a bounded client load skewed so one node runs hot, waits until the load stats show it, plans a rebalance and applies it throttled while the load continues — in the live dashboard on a terminal — then prints imbalance before/after, data moved, duration and client errors (which must be zero). Stops everything and removes its data, also on Ctrl-C. Exits non-zero when a client request or a move failed.'
  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --no-tui', '<%= config.bin %> demo --nodes 5 --rf 3 --duration 90s', '<%= config.bin %> demo --no-tui --nodes 3 --shards 8 --duration 20s --json']
  static override flags = {
    nodes: Flags.integer({description: 'storage nodes', default: 4, min: 2, max: 12}),
    rf: Flags.integer({description: 'replication factor', default: 3, min: 1, max: 7}),
    shards: Flags.integer({description: 'shards', default: 16, min: 2, max: 1024}),
    duration: durationFlag({description: 'how long the client load runs at most (the rebalance happens inside it)', ...withDefault('45s', parseDuration)}),
    throttle: rateFlag({description: 'copy throttle of the rebalance', ...withDefault('64KiB/s', parseRate)}),
    rate: Flags.integer({description: 'client requests per second', default: 150, min: 10, max: 5000}),
    rounds: Flags.integer({description: 'at most this many plan-and-apply rounds', default: 3, min: 1, max: 10}),
    'no-tui': Flags.boolean({description: 'plain output (automatic when stdout is not a terminal)'}),
  }

  async run(): Promise<DemoSummary> {
    const {flags} = await this.parse(Demo)
    if (flags.rf > flags.nodes) throw new UserError('BAD_INPUT', `--rf ${flags.rf} needs at least ${flags.rf} nodes; --nodes is ${flags.nodes}`, 'raise --nodes or lower --rf')
    const durationMs = flags.duration
    const throttle = flags.throttle
    const json = this.jsonEnabled()
    const tui = !json && !flags['no-tui'] && process.stdout.isTTY === true && process.stdin.isTTY === true
    // With --json, stdout carries only the summary: the story goes to stderr.
    const write = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`)
    const abort = new AbortController()
    const onSignal = () => abort.abort()
    // A closed terminal (SIGHUP) makes writes fail; cleanup must still run to the end.
    const ignore = () => {}
    process.stdout.on('error', ignore)
    process.stderr.on('error', ignore)
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    process.once('SIGHUP', onSignal)
    let session: TopSession | undefined
    const plain = plainReporter(write)
    const report = tui ? tuiReporter(() => session, plain) : plain
    const target = DEFAULT_PLAN_OPTIONS.maxImbalance
    try {
      const summary = await runDemo(
        {nodes: flags.nodes, rf: flags.rf, shards: flags.shards, durationMs, throttleBytesPerSec: throttle, opsPerSecond: flags.rate, maxRounds: flags.rounds, target, cwd: process.cwd()},
        (r) => {
          if (r.type === 'ready' && tui) session = startTopSession(r.ctx, {target, onQuit: () => abort.abort()})
          report(r)
        },
        abort.signal,
      )
      await session?.stop()
      session = undefined
      if (!json) for (const line of summaryLines(summary, `${LOCAL_DIR}/demo/${process.pid}`)) this.log(line)
      if (!summary.ok) process.exitCode = 1
      return summary
    } finally {
      await session?.stop()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.off('SIGHUP', onSignal)
      process.stdout.off('error', ignore)
      process.stderr.off('error', ignore)
    }
  }
}
