import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {UserError} from '../../src/errors/errors.js'
import {readPlanFile, readSnapshotFile} from '../../src/plans/planFiles.js'
import {requirePlanSignature} from '../../src/plans/signing.js'
import {type ActionCheck, checkPlanActions} from '../../src/planner/checkPlan.js'
import {appliedAlready, type AppliedPlan, appliedVerdict} from '../../src/executor/appliedPlan.js'
import {unfinishedMoves} from '../../src/executor/moveRecording.js'
import {conflictsWithUnfinished, type MoveConflict, refuseConflicts} from '../../src/executor/unfinishedConflicts.js'
import {refuseOtherIncarnation} from '../../src/executor/planPreflight.js'
import {durationFlag} from '../../src/cli/flags.js'
import {refuseOldPlan} from '../../src/plans/planAge.js'

/** PlanVerifyResult is `plan verify`'s --json output. */
interface PlanVerifyResult {
  plan: string
  hash: 'ok'
  /** signedBy is the id of the key whose signature was required and checked (--require-signature). */
  signedBy?: string
  valid: number
  stale: number
  actions: ActionCheck[]
  /** conflicts: actions whose nodes another plan's unfinished moves also change, or that would have a heal skipped (read from etcd; empty with --snapshot). */
  conflicts: MoveConflict[]
  /** applied: the plan was applied already (its moves are recorded in etcd): how many, and how many `apply` of it would still continue. Absent otherwise and with --snapshot. */
  applied?: AppliedPlan
}

export default class PlanVerify extends EtcdCommand {
  static override summary = "Check a plan's hash and which of its actions are still valid against the cluster."
  static override description = 'An action is still valid when its shard is at the epoch the plan expects, the source still holds a replica, and the target none and is neither cordoned nor draining (a node closed since the plan was made takes no new replica). Against etcd it also refuses a plan that moves a replica to or from a node another plan\'s unfinished moves (recorded, not yet done) also change: those would still run after it, on load the plan did not count; and a plan that would have such a move taking a shard off a draining node (a heal) skipped without taking the shard off that node itself. A plan applied already (its moves are recorded) is judged as `apply` treats it: its actions are not checked again; it passes, saying how many of its moves are unfinished (apply would continue only those), unless some ended aborted or failed (exit 7: applying it again runs nothing). Exits 2 for a malformed or modified plan, or one made from another incarnation of the cluster (initialised again since, or another cluster of that name), 7 when some actions are stale, the plan is older than --max-plan-age, or actions conflict with another plan\'s unfinished moves (finish or cancel them, then plan again).'
  static override examples = ['<%= config.bin %> plan verify plans/prod-20260101T000000000Z.json', '<%= config.bin %> plan verify plan.json --snapshot now.json --json', '<%= config.bin %> plan verify plan.json --require-signature ci-plan.pub --max-plan-age 2h']
  static override args = {file: Args.string({description: 'the plan file', required: true})}
  static override flags = {
    snapshot: Flags.string({description: 'check against this snapshot file instead of etcd'}),
    'require-signature': Flags.string({description: 'also require a signature (`plan --sign`) by the Ed25519 key whose public half (PEM) is in this file; exit 2 otherwise'}),
    'max-plan-age': durationFlag({description: 'also refuse (exit 7) a plan made longer ago than this, e.g. 2h, as `apply --max-plan-age` would'}),
  }

  async run(): Promise<PlanVerifyResult> {
    const {args, flags} = await this.parse(PlanVerify)
    const plan = readPlanFile(args.file)
    const signedBy = flags['require-signature'] === undefined ? undefined : requirePlanSignature(plan, flags['require-signature'])
    if (flags['max-plan-age'] !== undefined) refuseOldPlan(plan, flags['max-plan-age'], Date.now())
    const ctx = flags.snapshot ? undefined : await this.services(flags)
    const current = ctx ? await readSnapshot(ctx) : readSnapshotFile(flags.snapshot!)
    if (current.cluster.name !== plan.cluster) throw new UserError('BAD_INPUT', `plan ${args.file} is for cluster "${plan.cluster}", not "${current.cluster.name}"`, ctx ? `pass --cluster ${plan.cluster}` : `verify it against a snapshot of cluster "${plan.cluster}"`)
    refuseOtherIncarnation(plan, current.cluster)
    const checks = checkPlanActions(current, plan)
    const applied = ctx ? await appliedAlready(ctx, plan) : undefined
    if (applied) {
      this.log(`plan ${plan.id}: hash ok; ${signedBy === undefined ? '' : `signature by key ${signedBy} ok; `}${appliedVerdict(plan.id, applied)}`)
      const valid = checks.filter((c) => c.valid).length
      return {plan: plan.id, hash: 'ok', ...(signedBy === undefined ? {} : {signedBy}), valid, stale: checks.length - valid, actions: checks, conflicts: [], applied}
    }
    const stale = checks.filter((c) => !c.valid)
    // A snapshot file holds no moves: only etcd says which other plans' moves are unfinished.
    const epochs = new Map(current.shards.map((s) => [s.id, s.epoch]))
    const valid = new Set(checks.filter((c) => c.valid).map((c) => c.index))
    const draining = new Set(current.nodes.filter((n) => n.state === 'draining').map((n) => n.id))
    const conflicts = ctx ? conflictsWithUnfinished(plan, await unfinishedMoves(ctx), (id) => epochs.get(id), (node) => draining.has(node), (i) => valid.has(i)) : []
    // The line says what was checked: a snapshot's pass does not cover other plans' unfinished moves.
    const moves = ctx ? `${conflicts.length} conflict(s) with other plans' unfinished moves` : `other plans' unfinished moves not checked (a snapshot file holds none: verify against etcd before apply)`
    this.log(`plan ${plan.id}: hash ok; ${signedBy === undefined ? '' : `signature by key ${signedBy} ok; `}${checks.length - stale.length} of ${checks.length} action(s) still valid; ${moves}`)
    if (stale.length > 0) this.log(renderTable(['#', 'KIND', 'SHARD', 'WHY STALE'], stale.map((c) => [c.index + 1, c.kind, c.shard, c.reason ?? '']), [0, 2]))
    const result: PlanVerifyResult = {plan: plan.id, hash: 'ok', ...(signedBy === undefined ? {} : {signedBy}), valid: checks.length - stale.length, stale: stale.length, actions: checks, conflicts}
    if (stale.length > 0) {
      const first = stale[0]!
      throw new UserError('CONFLICT', `${stale.length} of ${checks.length} plan action(s) are stale (first: action ${first.index + 1}, shard ${first.shard}: ${first.reason})`, 'compute a fresh plan with `shardctl plan`')
    }
    refuseConflicts(plan.id, conflicts)
    return result
  }
}
