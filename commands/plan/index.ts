import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {conflictsMarkdown, conflictsTextLines, conflictsWarning} from '../../src/executor/unfinishedConflictsText.js'
import {readSnapshotFile} from '../../src/plans/planFiles.js'
import {assertPlanCheck, computeLivePlan, computePlan, planOptionsFromFlags, type PlanRun} from '../../src/plans/planService.js'
import {renderPlanMarkdown} from '../../src/planner/render/planMarkdown.js'
import {renderPlanText} from '../../src/planner/render/planText.js'

export default class Plan extends EtcdCommand {
  static override summary = 'Compute a rebalance plan from etcd or from a snapshot file.'
  static override description = `Goals in order: every hard rule (empty draining nodes, fix forbidden/pinned placements, zone spread and capacity, largest replica first to the node that ends least utilised), then lower the most utilised node, then the next, and so on, until every node's utilisation (weighted load / capacity, 1.00 = the mean of the nodes that will hold data) is within --max-imbalance X of the mean on both sides (between 2 - X and X, so an added node fills up); then fewer moves, then fewer bytes (the move that shifts the most load per byte copied). When the band is out of reach it still evens out what it can, swapping replicas when no single move helps. A replica that must move but fits nowhere is listed as unplaceable and everything else is planned. Shards too hot for any node are reported, or split with --allow-split. The plan is written to plans/<cluster>-<timestamp>.json (or --out) with a sha256 of its content.

--check exits 0 when the cluster is within target, 10 when a rebalance is needed and the plan reaches the target, and 11 when it does not: the target cannot be reached, a replica is unplaceable, or the plan stops short of it (--max-moves, --max-bytes, --drain-only, --strategy ring; the plan's status is then unreachable and the message says so). With --check the plan is only written when --out is given.

From etcd (not from a snapshot file, which holds no moves) the output also names the moves of other plans, recorded but unfinished, that the plan conflicts with: its actions move replicas to or from nodes those moves also change, or would have a move taking a shard off a draining node (a heal) skipped without taking the shard off that node themselves, so \`apply\` and \`plan verify\` refuse it (exit 7). The plan is still written, with a warning on stderr; --check exits 7 (before 10 or 11) with the line \`apply\` would print; --json lists every pair as conflicts. The way out: finish those moves (\`apply --resume\`) or cancel them (\`moves cancel\`), then plan again.`
  static override examples = [
    '<%= config.bin %> plan',
    '<%= config.bin %> plan --snapshot snap.json --format markdown --check',
    '<%= config.bin %> plan --max-imbalance 1.05 --max-moves 50 --max-bytes 200GiB --weights reads=1,writes=2,bytes=0.5',
    '<%= config.bin %> plan --drain-only --out drain.json',
    '<%= config.bin %> plan --strategy ring --format json',
    '<%= config.bin %> plan --sign ci-plan.key --out plan.json',
  ]
  static override flags = {
    snapshot: Flags.string({description: 'plan from this snapshot file (`snapshot export`; - reads standard input), with no etcd access'}),
    strategy: Flags.string({description: 'balance (load-aware) or ring (consistent-hash baseline)', options: ['balance', 'ring'], default: 'balance'}),
    out: Flags.string({description: 'write the plan here instead of plans/<cluster>-<timestamp>.json'}),
    'max-imbalance': Flags.string({description: 'allowed utilisation band around the mean: X means between 2 - X and X, at least 1.01 (1, a band of width zero, is unreachable) [default: 1.10]'}),
    'max-moves': Flags.integer({description: 'stop after this many moves', min: 0}),
    'max-bytes': Flags.string({description: 'stop before copying more than this, e.g. 500GiB'}),
    'min-improvement': Flags.string({description: "skip moves worth less than this fraction of an average replica's load (load taken out of the band, or drop of the busier node) [default: 0.1]"}),
    weights: Flags.string({description: 'resource weights, e.g. reads=1,writes=2,bytes=0.5 (omitted: 1)'}),
    'drain-only': Flags.boolean({description: 'only empty draining nodes and fix placement rules'}),
    'allow-split': Flags.boolean({description: 'split shards too hot for any node (at the hash midpoint) before moving them'}),
    format: Flags.string({description: 'output format', options: ['table', 'json', 'markdown'], default: 'table'}),
    check: Flags.boolean({description: 'exit 10 when a rebalance is needed and the plan reaches the target, 11 when it does not, 7 when it conflicts with other plans\' unfinished moves'}),
    sign: Flags.string({description: 'sign the plan with this Ed25519 private key (PEM, from `plan keygen`); `apply --require-signature` checks it'}),
    baseline: Flags.boolean({description: 'compare with the ring baseline in the summary (--no-baseline skips it: faster on very large clusters)', default: true, allowNo: true}),
  }

  async run(): Promise<PlanRun> {
    const {flags} = await this.parse(Plan)
    const options = planOptionsFromFlags({
      strategy: flags.strategy,
      maxImbalance: flags['max-imbalance'],
      maxMoves: flags['max-moves'],
      maxBytes: flags['max-bytes'],
      minImprovement: flags['min-improvement'],
      weights: flags.weights,
      drainOnly: flags['drain-only'],
      allowSplit: flags['allow-split'],
    })
    const context = {now: new Date(), cwd: process.cwd(), out: flags.out, write: !flags.check || flags.out !== undefined, signKeyFile: flags.sign, baseline: flags.baseline}
    const result = flags.snapshot ? computePlan(readSnapshotFile(flags.snapshot), options, context) : await computeLivePlan(await this.services(flags), options, context)
    const {plan, conflicts} = result
    // --format json prints the plan file's content only (it is piped into files `apply` reads): conflicts go to stderr and --json.
    if (flags.format === 'json') this.log(JSON.stringify(plan, null, 2))
    else this.log(flags.format === 'markdown' ? renderPlanMarkdown(plan, {}, conflictsMarkdown(plan.id, conflicts)) : renderPlanText(plan, {}, conflictsTextLines(plan.id, conflicts)))
    if (result.file && flags.format !== 'json') this.logToStderr(`plan written to ${result.file}`)
    if (flags.check) assertPlanCheck(result)
    const warning = conflictsWarning(plan.id, conflicts)
    if (warning) this.logToStderr(warning)
    return result
  }
}
