import {Flags} from '@oclif/core'
import {BaseCommand} from '../src/cli/baseCommand.js'
import {UserError} from '../src/errors/errors.js'
import {plainReporter, summaryLines, tuiReporter} from '../src/demo/demoRender.js'
import {type DemoSummary, runDemo} from '../src/demo/demoService.js'
import {type RedisDemoSummary, runRedisDemo} from '../src/demo/redisDemo.js'
import {redisSummaryLines} from '../src/demo/redisDemoRender.js'
import {LOCAL_DIR} from '../src/localEtcd/localEtcdService.js'
import {parseBytes, parseDuration, parseRate} from '../src/model/units.js'
import {bytesFlag, durationFlag, rateFlag, withDefault, timerBound} from '../src/cli/flags.js'
import {DEFAULT_PLAN_OPTIONS} from '../src/planner/options.js'
import {startTopSession, type TopSession} from '../src/tui/topSession.js'

export default class Demo extends BaseCommand {
  static override summary = 'Run the whole story on local processes: loaded cluster, a new node filled, a hot node relieved, a node drained — throttled, under client load.'
  static override description =
    'Starts a private etcd, storage nodes and a router on 127.0.0.1 (nothing needed but the etcd binary), loads data, drives a client load skewed so one node runs hot and, once the load stats show it, tells three acts — a new node joins and is filled, the hot node is relieved, a node is drained — each planned (the plan summary is shown) and applied throttled while the load continues, then one more round if the load measured after them is still outside the target, in the live dashboard on a terminal (p pauses, +/- change the throttle). Then it prints utilisation per node before/after, data moved, client requests, errors (which must be zero) and the worst client stall. --fast runs a short rebalance-only story (for tests). --secure runs it all over TLS with router authentication. Stops everything and removes its data, also on Ctrl-C; with --keep the cluster stays up for `shardctl top` and friends until `shardctl demo stop`. Exits non-zero when a client request or a move failed. --engine redis tells the story on a real Redis Cluster instead (needs redis-server and redis-cli, e.g. `apt-get install redis-server`; exit 9 without them): 3 masters + 3 replicas, a tenth of the slots taking 90% of the operations and some big values, planned load-aware and applied throttled under the load; it prints per-master ops/s and memory before/after, every warning a move carries (a master restarted mid-move: exit 1 when keys may be lost) and reads every written key back.'
  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --no-tui', '<%= config.bin %> demo --throttle 128KiB/s --preload 8MiB', '<%= config.bin %> demo --fast --no-tui --nodes 3 --shards 8 --duration 20s --json', '<%= config.bin %> demo --secure --keep', '<%= config.bin %> demo stop', '<%= config.bin %> demo --engine redis --no-tui']
  static override flags = {
    engine: Flags.string({description: 'the data plane the story runs on: shardctl\'s own (kv) or a real Redis Cluster (redis)', options: ['kv', 'redis'], default: 'kv'}),
    keys: Flags.integer({description: 'with --engine redis: keys loaded before the story', default: 20_000, min: 1000, max: 1_000_000}),
    nodes: Flags.integer({description: 'storage nodes', default: 4, min: 2, max: 12}),
    rf: Flags.integer({description: 'replication factor', default: 3, min: 1, max: 7}),
    fast: Flags.boolean({description: 'the short story for tests: no data load, rebalance rounds only, inside --duration'}),
    shards: Flags.integer({description: 'shards (default: 36; 16 with --fast)', min: 2, max: 1024}),
    duration: durationFlag({...timerBound('how long the client load runs at most (with --fast the rebalance happens inside it)'), ...withDefault('45s', parseDuration)}),
    throttle: rateFlag({description: 'copy throttle of the rebalance (default: 64KiB/s, copies take tens of seconds; 256KiB/s with --engine redis)'}),
    'drain-throttle': rateFlag({description: 'copy throttle of the drain act', ...withDefault('2MiB/s', parseRate)}),
    preload: bytesFlag({description: 'data loaded before the story starts (each replica stores it)', ...withDefault('8MiB', parseBytes)}),
    'moves-per-act': Flags.integer({description: 'at most this many moves in the add-node and hot-node acts', default: 3, min: 1, max: 100}),
    rate: Flags.integer({description: 'client requests per second', default: 150, min: 10, max: 5000}),
    rounds: Flags.integer({description: 'with --fast: at most this many plan-and-apply rounds', default: 3, min: 1, max: 10}),
    'no-tui': Flags.boolean({description: 'plain output (automatic when stdout is not a terminal)'}),
    keep: Flags.boolean({description: 'leave the cluster running after the story (the client load stops) and print how to reach it and how to stop it (`shardctl demo stop`)'}),
    secure: Flags.boolean({description: 'a CA and certificates in the demo dir, TLS on every hop, routers demanding a token (as `cluster security --tls-only --auth`)'}),
  }

  async run(): Promise<DemoSummary | RedisDemoSummary> {
    const {flags} = await this.parse(Demo)
    if (flags.engine === 'redis') {
      for (const f of ['keep', 'secure', 'fast'] as const) if (flags[f]) throw new UserError('BAD_INPUT', `--${f} is not supported with --engine redis`, 'drop it, or run the kv demo (--engine kv)')
    }
    if (flags.rf > flags.nodes) throw new UserError('BAD_INPUT', `--rf ${flags.rf} needs at least ${flags.rf} nodes; --nodes is ${flags.nodes}`, 'raise --nodes or lower --rf')
    const durationMs = flags.duration
    const throttle = flags.throttle ?? parseRate('64KiB/s')
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
    // Both engines' demos report the same way: the live view starts once the cluster is up.
    const onReport = (r: Parameters<typeof report>[0]): void => {
      if (r.type === 'ready' && tui) session = startTopSession(r.ctx, {target, onQuit: () => abort.abort()})
      report(r)
    }
    try {
      if (flags.engine === 'redis') {
        const summary = await runRedisDemo(
          {masters: 3, replicasPerMaster: 1, keys: flags.keys, bigValueBytes: 16 * 1024, opsPerSecond: flags.rate, maxLoadMs: Math.max(durationMs, 600_000), throttleBytesPerSec: flags.throttle ?? parseRate('256KiB/s'), target, measureMs: 3000, cwd: process.cwd()},
          onReport,
          abort.signal,
        )
        await session?.stop()
        session = undefined
        if (!json) for (const line of redisSummaryLines(summary, `${LOCAL_DIR}/demo/${process.pid}`)) this.log(line)
        if (!summary.ok) process.exitCode = 1
        return summary
      }
      const summary = await runDemo(
        {
          fast: flags.fast,
          nodes: flags.nodes,
          rf: flags.rf,
          shards: flags.shards ?? (flags.fast ? 16 : 36),
          durationMs,
          throttleBytesPerSec: throttle,
          drainThrottleBytesPerSec: flags['drain-throttle'],
          preloadBytes: flags.preload,
          movesPerAct: flags['moves-per-act'],
          opsPerSecond: flags.rate,
          maxRounds: flags.rounds,
          target,
          cwd: process.cwd(),
          secure: flags.secure,
          keep: flags.keep,
        },
        onReport,
        abort.signal,
      )
      await session?.stop()
      session = undefined
      if (!json) for (const line of summaryLines(summary, `${LOCAL_DIR}/demo/${process.pid}`, this.config.bin)) this.log(line)
      if (!summary.ok) process.exitCode = 1
      return summary
    } catch (err) {
      // Ctrl-C reaches the whole process group: etcd and the nodes stop as the demo does, and
      // whatever step was running failed on them first ("etcd unreachable", exit 3): it was the interrupt (130).
      if (abort.signal.aborted) throw new UserError('INTERRUPTED', 'demo interrupted', 'nothing was left running')
      throw err
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
