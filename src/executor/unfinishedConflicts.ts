import {UserError} from '../errors/errors.js'
import {type Move, type MovePhase, PHASE_TABLE} from '../model/move.js'
import {type MoveAction, type Plan, type PlanAction, type SplitAction} from '../model/plan.js'

/** UnfinishedMove is what the conflict check needs of a recorded, non-terminal move. */
export type UnfinishedMove = Pick<Move, 'id' | 'plan' | 'shard' | 'from' | 'to' | 'phase' | 'baseEpoch' | 'cancelRequested'> & Partial<Pick<Move, 'rollbackRequested'>>

/** MoveConflict is a pair of one of the plan's actions and another plan's unfinished move that makes `apply` refuse the plan. */
export type MoveConflict = NodeConflict | StrandConflict

/** NodeConflict: action `action` of the plan (a move of `shard` from `from` to `to`) and another plan's unfinished move `other` of another shard both change node `node`. */
export interface NodeConflict {
  action: number
  shard: number
  from: string
  to: string
  node: string
  other: UnfinishedMove
}

/**
 * StrandConflict: action `action` of the plan (a move of `shard` from `from` to `to`, or a split
 * of it: neither) acts first, at its epoch, on the shard of `other`, an unstarted move taking it
 * off node `node`, which is draining (a heal of a dead node, or a drain). Let past, the action has
 * `other` skipped (superseded, or stale at its start) and leaves the shard's replica on `node`.
 */
export interface StrandConflict {
  strands: true
  action: number
  shard: number
  from?: string
  to?: string
  node: string
  other: UnfinishedMove
}

/** drainingIn (pure) is the `draining` predicate conflictsWithUnfinished and supersededMoves take: the nodes of `nodes` marked draining. */
export function drainingIn(nodes: readonly {id: string; state: string}[]): (node: string) => boolean {
  const draining = new Set(nodes.filter((n) => n.state === 'draining').map((n) => n.id))
  return (node) => draining.has(node)
}

/** UNSTARTED are the phases in which a move has not changed its shard yet (it re-validates its epoch when it starts). */
const UNSTARTED: ReadonlySet<MovePhase> = new Set(['pending', 'checked'])

/**
 * conflictsWithUnfinished (pure) lists the pairs of a move action of `plan` and an unfinished
 * move of another plan that change the same node (as source or destination) on different
 * shards (NodeConflict), and the unstarted moves taking a shard off a `draining` node that the
 * plan would have skipped without taking the shard off that node itself (StrandConflict). A plan predicts each node's load from the map it was made from, which does not
 * hold the other plan's moves still to come: run after it, they would fill (or empty) the
 * same node again, past what either plan placed there, up to breaking a capacity.
 *
 * Pairs on the same shard are the preflight's (the shard is busy, or whichever move runs
 * first wins and the other is skipped at its epoch check). An unstarted move of another plan
 * on a shard this plan acts on at that move's epoch changes nothing later (the sweep,
 * supersededMoves, records it skipped, and this plan's action raises the epoch past it): it
 * conflicts with nothing, so an interrupted drain's queue does not block the next drain of the
 * node; nor does an unstarted move whose shard `epochOf` (the map now) is past its base epoch.
 * One whose base epoch the shard has not reached yet (another plan's second move of a shard,
 * recorded at the epoch its first move leaves) is not skipped: any move of the shard takes it
 * there (every move raises the epoch by EPOCH_STEPS.move), and it runs after this plan.
 * Except a move taking its shard off a node that is `draining` (a heal re-creating a dead
 * node's replicas, or a drain): skipped for an action that does not take the shard off that
 * node too (a move of another replica, a split), it left the shard on the node (at RF 2, on a
 * dead node: one live copy) until the next heal. The heal wins: that pair is a StrandConflict. Nor
 * does a move cancelled (`moves cancel`) or aborting before its cutover: it ends aborted, its
 * shard back where it was, so cancelling is a way out the refusal can name.
 *
 * `runs` says which of the plan's actions will run (apply: the preflight's verdicts). An
 * action that will not (stale: a split whose new id another plan's split took since) raises no
 * epoch, so the other move it would have made stale still runs after the plan: it conflicts.
 */
export function conflictsWithUnfinished(plan: Pick<Plan, 'id' | 'actions'>, unfinished: readonly UnfinishedMove[], epochOf: (shard: number) => number | undefined, draining: (node: string) => boolean, runs: (action: number) => boolean = () => true): MoveConflict[] {
  // The plan's action on each shard at each epoch, when that action runs: its first one on the
  // shard at the shard's epoch now, and the later ones at the epochs the earlier leave.
  const at = new Map<string, {index: number; action: PlanAction}>()
  plan.actions.forEach((a, i) => {
    if (runs(i) && !at.has(`${a.shard}@${a.epoch}`)) at.set(`${a.shard}@${a.epoch}`, {index: i, action: a})
  })
  const out: MoveConflict[] = []
  for (const other of unfinished) {
    if (other.plan === plan.id) continue
    // The plan makes this very move itself (a drain run again while the first one's move is under
    // way): it counted on that change, whichever of the two ends up making it. Only while that move
    // is still making it (adoptable): one rolling back puts its shard back on its source, which the
    // plan counted on emptying, so it conflicts like any other (a cancelled or aborting one before
    // its cutover is let past below: its shard stays where the map has it).
    if (adoptable(plan, {...other, rollbackRequested: other.rollbackRequested ?? false})) continue
    // Cancelled before its cutover: the next executor aborts it, leaving its shard as the map has it now.
    if ((other.cancelRequested || other.phase === 'aborting') && !PHASE_TABLE[other.phase].cutOver) continue
    // An unstarted move whose shard is past its epoch (or gone) is skipped when it starts: it
    // changes nothing. Not one whose epoch the shard has not reached yet (a plan's second move of
    // a shard, recorded at the epoch its first leaves): every move raises the epoch by the same
    // steps, whoever makes it, so that move runs once the shard gets there.
    const epochNow = epochOf(other.shard)
    if (UNSTARTED.has(other.phase) && (epochNow === undefined || epochNow > other.baseEpoch)) continue
    const actsAtItsEpoch = UNSTARTED.has(other.phase) ? at.get(`${other.shard}@${other.baseEpoch}`) : undefined
    if (actsAtItsEpoch) {
      const {index, action} = actsAtItsEpoch
      if (!draining(other.from) || (action.kind === 'move' && action.from === other.from)) continue
      // A heal the plan would have skipped: refused, so it still runs after the plan, and its node pairs count too (below).
      out.push({strands: true, action: index, shard: action.shard, ...(action.kind === 'move' ? {from: action.from, to: action.to} : {}), node: other.from, other})
    }
    plan.actions.forEach((a, index) => {
      if (a.kind !== 'move' || a.shard === other.shard) return
      // The node both fill (or both empty) first: the one that overflows.
      const node = a.to === other.to ? a.to : a.from === other.from ? a.from : [a.from, a.to].find((n) => n === other.from || n === other.to)
      if (node !== undefined) out.push({action: index, shard: a.shard, from: a.from, to: a.to, node, other})
    })
  }
  return out
}

/** PlanMoves is what adoption reads of a plan: its id and which shard each action moves from where to where (a split moves nothing). */
export interface PlanMoves {
  id: string
  actions: readonly (Pick<MoveAction, 'kind' | 'shard' | 'from' | 'to'> | Pick<SplitAction, 'kind' | 'shard'>)[]
}

/**
 * makesTheSameMove (pure): `plan` has a move action of `move`'s shard from the same source to
 * the same destination. Such a move of another plan is no conflict, and the plan's apply runs
 * it (adoptedMoves, src/executor/executePlan.ts): the plan's own action is skipped as stale once it started.
 */
export function makesTheSameMove(plan: Pick<PlanMoves, 'actions'>, move: Pick<Move, 'shard' | 'from' | 'to'>): boolean {
  return plan.actions.some((a) => a.kind === 'move' && a.shard === move.shard && a.from === move.from && a.to === move.to)
}

/**
 * UnfinishedConflictError is `apply`'s refusal (CONFLICT, exit 7, nothing changed) of a plan
 * that conflicts with other plans' unfinished moves. Its own class, with the moves and plans in
 * the way as fields, because apply throws other CONFLICTs: the map changing before the go-ahead
 * (PlanChangedError: planning again may succeed), or its lease lapsing after it changed things.
 * Planning again from the same map gives this one again: a caller that plans by itself (the
 * autopilot) must finish or cancel these moves first.
 */
export class UnfinishedConflictError extends UserError {
  constructor(
    message: string,
    hint: string,
    /** moves are the ids of the unfinished moves in the way; plans, the plans they belong to. */
    readonly moves: readonly string[],
    readonly plans: readonly string[],
  ) {
    super('CONFLICT', message, hint)
  }
}

/**
 * adoptable (pure): another plan's move that `plan`'s apply runs in its own run: one it makes
 * too (makesTheSameMove) that is still on its way to making it, i.e. on the forward track with
 * neither a cancel nor a rollback asked. A move aborting or rolling back (or about to) ends with
 * the shard back on its source, not the change the plan counts on; run by the plan's apply, it
 * made that run wait for whatever the abort or rollback waits for (a down destination's drop,
 * without bound) and end INCOMPLETE for another plan's abort. It is left to `apply --resume`.
 */
export function adoptable(plan: PlanMoves, move: Pick<Move, 'plan' | 'shard' | 'from' | 'to' | 'phase' | 'cancelRequested' | 'rollbackRequested'>): boolean {
  return move.plan !== plan.id && PHASE_TABLE[move.phase].track === 'forward' && !move.cancelRequested && !move.rollbackRequested && makesTheSameMove(plan, move)
}

/**
 * adoptedMoves (pure) picks, from every recorded move (with the store revision that created
 * it), the other plans' moves `plan`'s apply runs in its own run: adoptable ones recorded before
 * the plan's own record of the same move, i.e. there when its apply checked the conflicts and
 * counted on them. One recorded since (the plan applied again long after it finished, the shard
 * back where it was and another plan's identical move recorded meanwhile) is no move this plan
 * counted on: running it ran a move another operator had stopped, as "plan applied already".
 */
export function adoptedMoves<T extends {value: Move; createRevision: bigint}>(plan: PlanMoves, moves: readonly T[]): T[] {
  const own = moves.filter((m) => m.value.plan === plan.id)
  const sameMove = (a: Move, b: Move) => a.shard === b.shard && a.from === b.from && a.to === b.to
  return moves.filter((m) => adoptable(plan, m.value) && own.some((o) => sameMove(o.value, m.value) && m.createRevision < o.createRevision))
}

/**
 * movesAdoptedBy (pure) is {@link adoptedMoves} for a plan known by its id only (`moves cancel
 * --plan`): the plan's actions are read off its recorded moves, one record per move action,
 * stale ones (recorded skipped) included, so it picks the moves the plan's apply runs.
 */
export function movesAdoptedBy<T extends {value: Move; createRevision: bigint}>(plan: string, moves: readonly T[]): T[] {
  const actions = moves.filter((m) => m.value.plan === plan).map((m) => ({kind: 'move' as const, shard: m.value.shard, from: m.value.from, to: m.value.to}))
  return adoptedMoves({id: plan, actions}, moves)
}

/**
 * supersededMoves (pure) lists the unstarted moves (pending or checked, no cancel asked) that
 * a move of another plan recorded after them supersedes, each with that move (`by`): an
 * unstarted move of the same shard at the same base epoch, cancelled or not, to elsewhere (the
 * same move is adopted instead, adoptedMoves). conflictsWithUnfinished let the later plan through
 * only because it moves that shard first at that epoch, counting on the earlier move being
 * skipped at its start once its own move raised the epoch. Nothing makes the later one run
 * first (a resume runs moves in plan-index order across plans), and the earlier one, run first,
 * lands the shard on a node the later plan filled counting on it going elsewhere. executePlan
 * records them skipped in every run, right after a plan's moves are recorded, so a run killed
 * between the two transactions leaves it to the next run's sweep. A move already started has
 * moved the epoch on, and the one it superseded is skipped as stale at its start anyway.
 *
 * The heal wins: a waiting move taking the shard off a `draining` node (a heal of a dead node,
 * or a drain) supersedes every other move of the group that is not one, recorded before or after
 * it, and is superseded only by a later one (the latest of those wins). Superseded by a move of
 * another replica (a pair the check refuses now, StrandConflict, but an older apply recorded, or
 * one let past before the node was marked draining), the heal left the shard's replica on the
 * node, at RF 2 on a dead node one live copy, until the next heal. A cancelled move off the node
 * wins nothing recorded after it (it aborts, moving nothing), but, like any cancelled move, it
 * still supersedes those recorded before it: the check let its plan past them only because it
 * takes the shard off that node itself, weighing none of its other actions against them, and its
 * apply recorded them skipped before anyone could cancel; a sweep after a kill in between must
 * leave what that apply would have. Two heals off different nodes: the later one runs, the next
 * heal does the other.
 */
export function supersededMoves<T extends {value: Pick<Move, 'plan' | 'shard' | 'from' | 'to' | 'phase' | 'baseEpoch' | 'cancelRequested'>; createRevision: bigint}>(moves: readonly T[], draining: (node: string) => boolean): {move: T; by: T}[] {
  const unstarted = moves.filter((m) => UNSTARTED.has(m.value.phase))
  // A cancelled move aborts anyway. But a cancel of the later move does not bring the earlier
  // one back: its plan's other moves still run, on load counted without it (the later plan's
  // own apply records the earlier one skipped before anyone can cancel; a sweep after a kill
  // in between must leave what that apply would have).
  const waiting = unstarted.filter((m) => !m.value.cancelRequested)
  // Grouped by shard and epoch: every executor run sweeps every recorded move, and comparing
  // each unstarted move with all the others took seconds at tens of thousands (a large drain).
  const heal = (o: T) => draining(o.value.from)
  const latest = (a: T | undefined, o: T) => (a === undefined || o.createRevision > a.createRevision ? o : a)
  const sameShardAndEpoch = new Map<string, {moves: T[]; lastHeal?: T}>()
  for (const o of unstarted) {
    const key = `${o.value.shard}@${o.value.baseEpoch}`
    const group = sameShardAndEpoch.get(key) ?? {moves: []}
    group.moves.push(o)
    if (heal(o)) group.lastHeal = latest(group.lastHeal, o)
    sameShardAndEpoch.set(key, group)
  }
  // Another plan's move to elsewhere: the same move is adopted, not superseded.
  const supersedes = (o: T, m: T) => o.value.plan !== m.value.plan && (o.value.from !== m.value.from || o.value.to !== m.value.to)
  return waiting.flatMap((m) => {
    const group = sameShardAndEpoch.get(`${m.value.shard}@${m.value.baseEpoch}`)!
    const w = group.lastHeal
    // The last heal, waiting, wins over the moves that are not heals, whenever they were recorded.
    if (w && !heal(m) && !w.value.cancelRequested && supersedes(w, m)) return [{move: m, by: w}]
    // Else the latest recording was let through past all the others (each past those before it);
    // a heal only past another heal, and past every other move before any that is not a heal.
    const later = group.moves.filter((o) => o.createRevision > m.createRevision && supersedes(o, m))
    const laterHeals = later.filter(heal)
    const by = (laterHeals.length > 0 || heal(m) ? laterHeals : later).reduce<T | undefined>(latest, undefined)
    return by ? [{move: m, by}] : []
  })
}

/**
 * unfinishedMoveOf (pure) keeps of a move record what the conflict check reads, so a
 * conflict printed or returned as JSON names the move without its progress counters.
 */
export function unfinishedMoveOf(m: UnfinishedMove): UnfinishedMove {
  return {id: m.id, plan: m.plan, shard: m.shard, from: m.from, to: m.to, phase: m.phase, baseEpoch: m.baseEpoch, cancelRequested: m.cancelRequested, ...(m.rollbackRequested ? {rollbackRequested: true} : {})}
}

/**
 * conflictPairText is one conflicting pair as words: `action 3 (shard 5 n1 -> n3) and move
 * a-0002 (shard 2 n2 -> n3, pending) both change node n3`, or for a heal the action would
 * skip, `action 1 (shard 5 n2 -> n4) would have move h-0000 (shard 5 n1 -> n3, pending)
 * skipped, which takes shard 5 off draining node n1`. `code` wraps names (markdown).
 */
export function conflictPairText(c: MoveConflict, code: (s: string) => string = (s) => s): string {
  const o = c.other
  const action = c.from !== undefined && c.to !== undefined ? `action ${c.action + 1} (shard ${c.shard} ${code(c.from)} -> ${code(c.to)})` : `action ${c.action + 1} (split of shard ${c.shard})`
  const move = `move ${code(o.id)} (shard ${o.shard} ${code(o.from)} -> ${code(o.to)}, ${o.phase})`
  return 'strands' in c ? `${action} would have ${move} skipped, which takes shard ${o.shard} off draining node ${code(c.node)}` : `${action} and ${move} both change node ${code(c.node)}`
}

/**
 * conflictsVerdict (pure) is what `apply`, `plan verify` and `plan` say about `conflicts`:
 * null when there are none, else one line naming the first pair, the other plan(s) and how
 * many of their moves are in the way, and the way out (finish or cancel those moves, then
 * plan again from the map they leave). One text, so the three commands cannot disagree.
 */
export function conflictsVerdict(planId: string, conflicts: readonly MoveConflict[]): {message: string; hint: string} | null {
  const first = conflicts[0]
  if (!first) return null
  const {moves: others, plans} = inTheWay(conflicts)
  const o = first.other
  const why = 'strands' in first ? `: shard ${first.shard} would keep its replica on node ${first.node}` : ', which the plan did not count on'
  return {
    message: `plan ${planId} conflicts with ${others.length} unfinished move(s) of plan ${plans.join(', plan ')}: its ${conflictPairText(first)}${why}`,
    hint: `finish those moves (\`shardctl apply --resume\`), or cancel the ones not cut over yet (\`shardctl moves cancel ${o.id}\`, or \`shardctl moves cancel --plan ${o.plan}\`), then compute a fresh plan with \`shardctl plan\``,
  }
}

/**
 * refuseConflicts throws UnfinishedConflictError (CONFLICT, exit 7) with {@link conflictsVerdict}'s line and hint when
 * `conflicts` is not empty; returns otherwise.
 */
export function refuseConflicts(planId: string, conflicts: readonly MoveConflict[]): void {
  const verdict = conflictsVerdict(planId, conflicts)
  if (!verdict) return
  const {moves, plans} = inTheWay(conflicts)
  throw new UnfinishedConflictError(verdict.message, verdict.hint, moves, plans)
}

/** inTheWay names the other plans' moves in `conflicts` and the plans they belong to, each once, in order. */
function inTheWay(conflicts: readonly MoveConflict[]): {moves: string[]; plans: string[]} {
  return {moves: [...new Set(conflicts.map((c) => c.other.id))], plans: [...new Set(conflicts.map((c) => c.other.plan))]}
}
