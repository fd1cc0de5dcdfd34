import {hostname} from 'node:os'
import {resolve} from 'node:path'
import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {bytesFlag, durationFlag, listenFlag, rateFlag, withDefault, timerBound} from '../../src/cli/flags.js'
import {abortableSleep} from '../../src/clock/abortableSleep.js'
import {AutopilotMetrics, serveMetrics} from '../../src/autopilot/autopilotMetrics.js'
import {type AutopilotEvent, runAutopilot} from '../../src/autopilot/autopilotLoop.js'
import {policyFromFlags} from '../../src/autopilot/autopilotOptions.js'
import {checkAutopilotStart} from '../../src/autopilot/autopilotService.js'
import {UserError} from '../../src/errors/errors.js'
import {DEFAULT_EXECUTOR_OPTIONS, MIN_CHUNK_BYTES} from '../../src/executor/executorEnv.js'
import {parseWindow} from '../../src/executor/window.js'
import {StopSignals} from '../../src/daemon/stopSignals.js'
import {surviveLostLogReader} from '../../src/daemon/lostLogReader.js'
import {exitAfterStop} from '../../src/daemon/exitAfterStop.js'
import {AUTOPILOT_RELEASE_WAIT_MS, AUTOPILOT_STOP_WAIT_MS} from '../../src/autopilot/autopilotOptions.js'
import {HeldLocks} from '../../src/etcd/heldLocks.js'
import {stopWithin} from '../../src/daemon/stopWithin.js'
import {jsonLog} from '../../src/log/jsonLog.js'
import {parseBytes, parseDuration} from '../../src/model/units.js'
import {PLANS_DIR} from '../../src/plans/planFiles.js'
import {readKeyFile} from '../../src/plans/signing.js'

export default class Autopilot extends EtcdCommand {
  static override summary = 'Run the autopilot: heal dead and draining nodes, rebalance with hysteresis, inside guard rails.'
  static override description = `A long-running reconcile loop. Run one or several: exactly one leads (a leased lock in etcd; every write it makes is fenced on it), the others stand by and take over within --lease-ttl of its death, resuming the moves it left.

Every --interval it reads the cluster and decides, in order: defer while paused (\`autopilot pause\`) or while anyone holds the executor lock (a human \`apply\`); finish recorded moves nobody runs; re-create the replicas of nodes down longer than --dead-after (marked draining) and empty draining nodes, shards with the fewest live replicas first, at --heal-throttle; and when the imbalance has stayed above --rebalance-above for --for, apply a normal plan that stops at --max-imbalance, never moving a shard it moved within --cool-down. Plans are written under plans/ like \`shardctl plan\` (signed with --sign). --window, --max-concurrent and --max-bytes-per-hour bound what it does; --dry-run only writes the plans. Decisions: \`autopilot status\`, JSON lines on stderr, Prometheus on --metrics-listen. At start it reads the cluster once: etcd not answering exits 3 (within about 15 s), an unknown --cluster exits 1; once running, etcd trouble is retried every interval. SIGTERM stops it (exit 0) within 11 s, even when etcd or a node does not answer: a step still running after 8 s is left (recorded moves resume) and its locks released on the way out, so \`apply --resume\` or a standby takes over at once (with etcd frozen they expire with their leases).`
  static override examples = [
    '<%= config.bin %> autopilot --dead-after 5m --rebalance-above 1.2 --for 10m --window 01:00-05:00 --max-bytes-per-hour 50GiB',
    '<%= config.bin %> autopilot --dry-run --interval 30s',
    '<%= config.bin %> autopilot --metrics-listen 127.0.0.1:9465 --heal-throttle 100MiB/s --throttle 20MiB/s',
  ]
  static override flags = {
    id: Flags.string({description: 'this candidate\'s name in the election (default: <host>-<pid>)'}),
    'dead-after': durationFlag({description: 'a node down longer than this is gone: its replicas are re-created on live nodes', min: 1, ...withDefault('5m', parseDuration)}),
    'rebalance-above': Flags.string({description: 'start a rebalance when the largest node utilisation over the mean stays above this', default: '1.2'}),
    for: durationFlag({description: 'how long the imbalance must stay above --rebalance-above', ...withDefault('10m', parseDuration)}),
    'cool-down': durationFlag({description: 'a shard the autopilot moved is not moved again for this long', ...withDefault('30m', parseDuration)}),
    'max-imbalance': Flags.string({description: "the planner's target band: a rebalance stops inside it; at least 1.01 [default: 1.10]"}),
    'max-moves': Flags.integer({description: 'at most this many moves per plan', min: 1}),
    'min-improvement': Flags.string({description: 'planner anti-churn (see `plan --help`) [default: 0.1]'}),
    weights: Flags.string({description: 'planner resource weights, e.g. reads=1,writes=2,bytes=0.5'}),
    'max-bytes-per-hour': bytesFlag({description: 'copy at most this much per hour (plans are cut to the budget left)'}),
    'max-concurrent': Flags.integer({description: 'moves running at once', default: 2, min: 1, max: 256}),
    'per-node': Flags.integer({description: 'moves touching one node at once', default: 1, min: 1, max: 64}),
    throttle: rateFlag({description: 'copy rate of rebalance moves, e.g. 20MiB/s (default unlimited; `throttle set` overrides it live)'}),
    'heal-throttle': rateFlag({description: 'copy rate of healing and resumed moves (default unlimited)'}),
    'node-throttle': rateFlag({description: 'copy rate per source and per target node'}),
    'chunk-size': bytesFlag({description: 'copy chunk size (at least 4KiB)', min: MIN_CHUNK_BYTES, ...withDefault('256KiB', parseBytes)}),
    window: Flags.string({description: 'maintenance window HH:MM-HH:MM (local time): it acts only inside it'}),
    'dry-run': Flags.boolean({description: 'only write the plans it would apply; change nothing'}),
    interval: durationFlag({...timerBound('time between two checks'), min: 100, ...withDefault('10s', parseDuration)}),
    'lease-ttl': durationFlag({...timerBound('TTL of the leadership lease: a dead leader is replaced within it (whole seconds)'), min: 2000, ...withDefault('10s', parseDuration)}),
    'metrics-listen': listenFlag({description: 'serve Prometheus /metrics on host:port (port 0 picks one)'}),
    'plans-dir': Flags.string({description: 'where plans are written', default: PLANS_DIR}),
    sign: Flags.string({description: 'sign every plan with this Ed25519 private key (PEM, from `plan keygen`)'}),
  }

  async run(): Promise<{id: string; signal: string}> {
    const {flags} = await this.parse(Autopilot)
    // Listened for from here, as `node serve` and `router serve` do: a SIGTERM while the
    // autopilot connects stops it cleanly instead of Node's default death; a second one exits 1.
    const signals = new StopSignals()
    // A log reader that goes away must not take the autopilot down (its lines are lost instead).
    surviveLostLogReader()
    const policy = policyFromFlags({
      deadAfterMs: flags['dead-after'],
      rebalanceAbove: flags['rebalance-above'],
      forMs: flags.for,
      coolDownMs: flags['cool-down'],
      maxBytesPerHour: flags['max-bytes-per-hour'],
      maxImbalance: flags['max-imbalance'],
      maxMoves: flags['max-moves'],
      minImprovement: flags['min-improvement'],
      weights: flags.weights,
    })
    let window
    try {
      window = flags.window === undefined ? undefined : parseWindow(flags.window)
    } catch (err) {
      throw new UserError('BAD_INPUT', `--window: ${(err as Error).message}`, 'e.g. --window 01:00-05:00')
    }
    const signKey = flags.sign === undefined ? undefined : readKeyFile(flags.sign, 'private')
    const id = flags.id ?? `${hostname()}-${process.pid}`
    const ctx = await this.services(flags)
    // Fails (exit 3 naming etcd, or 1 for an unknown cluster) rather than campaigning for ever against an etcd that never answered.
    await checkAutopilotStart(ctx, signals.signalled)
    const metrics = new AutopilotMetrics()
    const server = flags['metrics-listen'] ? await serveMetrics(metrics, flags['metrics-listen']) : undefined
    const log = jsonLog({autopilot: id})
    // The locks the loop holds, released on the way out if the stop gives up waiting for it.
    const heldLocks = new HeldLocks()
    const stopped = signals.signalled.then((s) => {
      log.info(`${s}: stopping`)
      return s
    })
    const address = server?.address()
    this.log(`autopilot ${id} for cluster ${ctx.cluster}${flags['dry-run'] ? ' (dry run)' : ''}${address && typeof address === 'object' ? `; metrics on ${address.address}:${address.port}` : ''}`)
    try {
      const loop = runAutopilot(
        ctx,
        {
          id,
          policy,
          intervalMs: flags.interval,
          leaseTtlSeconds: Math.round(flags['lease-ttl'] / 1000),
          dryRun: flags['dry-run'] === true,
          window,
          limits: {maxConcurrent: flags['max-concurrent'], perNode: flags['per-node']},
          throttle: flags.throttle ?? null,
          healThrottle: flags['heal-throttle'] ?? null,
          nodeThrottle: flags['node-throttle'] ?? null,
          options: {...DEFAULT_EXECUTOR_OPTIONS, chunkBytes: flags['chunk-size']},
          plansDir: resolve(process.cwd(), flags['plans-dir']),
          signKey,
          metrics,
        },
        {now: () => Date.now(), sleep: abortableSleep, report: (ev) => logEvent(log, ev), heldLocks},
        signals.abort,
      )
      await stopWithin(loop, stopped, AUTOPILOT_STOP_WAIT_MS, async () => {
        const locks = heldLocks.size
        log.warn(`stopping without waiting longer for the current step (it did not end within ${AUTOPILOT_STOP_WAIT_MS} ms: etcd or a node not answering); releasing the ${locks} lock(s) it holds (at most ${AUTOPILOT_RELEASE_WAIT_MS} ms; a lock etcd does not hear released expires with its lease); recorded moves resume`)
        await heldLocks.releaseAll(AUTOPILOT_RELEASE_WAIT_MS)
      })
    } finally {
      server?.close()
    }
    const signal = await stopped
    log.info(`${signal}: stopped`)
    // Kept, not disposed: a signal in the exit linger from here on exits 0 (before, Node's default killed it).
    signals.stopped()
    exitAfterStop()
    return {id, signal}
  }
}

function logEvent(log: ReturnType<typeof jsonLog>, ev: AutopilotEvent): void {
  switch (ev.type) {
    case 'executor':
      log.info(ev.event.type === 'info' ? ev.event.message : `move ${ev.event.type}`, {executor: ev.event})
      return
    case 'error':
      log.warn(ev.message)
      return
    case 'decision':
      log.info(`${ev.kind}: ${ev.reason}`, {decision: ev.kind, plan: ev.plan})
      return
    case 'outcome':
      log.info(`${ev.kind} ${ev.plan ?? ''} → ${ev.outcome}`, {outcome: ev.outcome, plan: ev.plan})
      return
    case 'standby':
      log.info(`standing by; leader ${ev.leader ?? 'unknown'}`)
      return
    case 'leader':
      log.info('leading')
      return
    case 'deposed':
      log.warn(`no longer leading: ${ev.reason}`)
  }
}
