import {Flags} from '@oclif/core'
import {EtcdCommand} from '../src/cli/baseCommand.js'
import {getMeta} from '../src/cluster/clusterRepo.js'
import {isUserError, UserError} from '../src/errors/errors.js'
import {parseDecimal} from '../src/model/units.js'
import {DEFAULT_PLAN_OPTIONS} from '../src/planner/options.js'
import {readTopSnapshot, type TopSnapshot} from '../src/tui/topSnapshot.js'
import {startLiveFeed} from '../src/tui/liveFeed.js'
import {loadTopSession} from '../src/tui/loadTopSession.js'

export default class Top extends EtcdCommand {
  static override summary = 'Live dashboard of the cluster: nodes, load balance, moves and events, fed by etcd watches.'
  static override description =
    'A full-screen terminal UI: header (cluster, etcd, nodes up/down, shards, rf, imbalance vs target, executor state, throttle), per-node utilisation bars, running and recent moves with progress, rate and ETA, and an event log. Keys: p pause/resume (the moves and the autopilot), +/- throttle, ↑/↓ select a move, c cancel it, ? help, q quit. Survives etcd restarts ("reconnecting"). A node\'s utilisation is marked `*` (with --json, `loadStale`) when the load it is figured from predates the shard map\'s latest change for the node (over another number of replicas than the map gives it, as right after a drain or a move), as `cluster status` marks it. A move\'s warning of possible data loss not acknowledged (a redis master restarted without appendonly mid-move) is listed under TROUBLE with its way out (`moves ack`), as `cluster status` lists it; so, after the losses and marked as not a loss, is one that reports no loss but waits for a check (a redis slot held open, a restart window nobody could judge), until `moves ack`; with --json, in `trouble` (each with `loss`). Needs a terminal; `--json` prints the same figures once.'
  static override examples = ['<%= config.bin %> top', '<%= config.bin %> top --cluster prod --target 1.2', '<%= config.bin %> top --json']
  static override flags = {
    target: Flags.string({description: 'balance target shown beside the imbalance (max node utilisation / mean)', default: String(DEFAULT_PLAN_OPTIONS.maxImbalance)}),
  }

  async run(): Promise<TopSnapshot | void> {
    const {flags} = await this.parse(Top)
    const target = parseDecimal(flags.target)
    if (!(target >= 1 && Number.isFinite(target))) throw new UserError('BAD_INPUT', `--target must be a number >= 1, got "${flags.target}"`, 'e.g. --target 1.1')
    const ctx = await this.services(flags)
    if (this.jsonEnabled()) return readTopSnapshot(ctx, target, Date.now())
    if (!process.stdout.isTTY || !process.stdin.isTTY) throw new UserError('BAD_INPUT', '`shardctl top` needs an interactive terminal', 'use `shardctl top --json` or `shardctl moves list` in scripts')
    // Loading the UI (ink, react: most of the time to the first frame) starts now and
    // overlaps the meta check and the feed's first read, instead of preceding them.
    const ui = loadTopSession()
    ui.catch(() => {}) // awaited below; not an unhandled rejection if the meta check throws first
    // An unknown cluster is an error; an unreachable etcd is not (the dashboard shows "reconnecting").
    await getMeta(ctx).catch((err: unknown) => {
      if (!isUserError(err, 'ETCD_UNREACHABLE')) throw err
    })
    const live = startLiveFeed(ctx)
    const {startTopSession} = await ui.catch(async (err: unknown) => {
      await live.feed.stop()
      throw err
    })
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
    let onSignal = () => {}
    try {
      await new Promise<void>((resolve) => {
        const session = startTopSession(ctx, {target, live, onQuit: () => void session.stop().then(resolve)})
        onSignal = () => void session.stop().then(resolve)
        for (const s of signals) process.once(s, onSignal)
      })
    } finally {
      for (const s of signals) process.off(s, onSignal)
    }
  }
}
