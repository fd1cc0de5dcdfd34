import {Flags} from '@oclif/core'
import {EtcdCommand} from '../src/cli/baseCommand.js'
import {durationFlag, withDefault, timerBound} from '../src/cli/flags.js'
import {renderLoadReport as render} from '../src/cli/statsText.js'
import {UserError} from '../src/errors/errors.js'
import {parseDuration} from '../src/model/units.js'
import {type LoadReport, loadReport, watchLoadReport} from '../src/stats/loadReport.js'

export default class Stats extends EtcdCommand {
  static override summary = 'Show per-node and per-shard load from the stats the nodes publish in etcd.'
  static override description =
    'Reads the leased stats/<node> summaries and loads/<node>/ pages (reads and writes per second, exponentially weighted; bytes and keys) and joins them with the shard map. A node\'s figures marked * were published before the shard map\'s latest change for it (they sum another number of replicas than REPLICAS; --json: stale, reportedReplicas): the node publishes again once it sees the change. Per shard, reads are summed over replicas; writes, bytes and keys are the largest replica\'s. With --watch, re-renders on every change (at most once per --interval) until Ctrl-C or --for; with --json --watch, prints one JSON report per line.'
  static override examples = ['<%= config.bin %> stats', '<%= config.bin %> stats --json', '<%= config.bin %> stats --watch --interval 2s --for 1m']
  static override flags = {
    watch: Flags.boolean({description: 're-render on every change until interrupted'}),
    interval: durationFlag({...timerBound('with --watch: at most one render per interval'), ...withDefault('1s', parseDuration)}),
    for: durationFlag({...timerBound('with --watch: stop after this long (default: until Ctrl-C)'), dependsOn: ['watch']}),
    count: Flags.integer({description: 'with --watch: stop after this many renders', min: 1, dependsOn: ['watch']}),
  }

  async run(): Promise<LoadReport | undefined> {
    const {flags, metadata} = await this.parse(Stats)
    // oclif's `dependsOn` (as --for and --count have) counts a default as given, and --interval has one, so its need for --watch is checked here.
    if (!flags.watch && metadata.flags.interval?.setFromDefault !== true) throw new UserError('BAD_INPUT', '--interval needs --watch: without it one report is printed, once', 'add --watch, or leave --interval out')
    const ctx = await this.services(flags)
    if (!flags.watch) {
      const report = await loadReport(ctx)
      this.log(render(report))
      return report
    }
    const controller = new AbortController()
    const stop = () => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    const timer = flags.for !== undefined ? setTimeout(stop, flags.for) : undefined
    const tty = process.stdout.isTTY && !this.jsonEnabled()
    try {
      await watchLoadReport(
        ctx,
        (r) => {
          if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(r)}\n`)
          else this.log(`${tty ? '\u001B[2J\u001B[H' : '\n'}${render(r)}`)
        },
        {minIntervalMs: flags.interval, signal: controller.signal, maxReports: flags.count},
      )
    } finally {
      clearTimeout(timer)
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
    return undefined
  }
}
