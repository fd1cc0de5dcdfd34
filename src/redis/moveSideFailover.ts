import {myself, type RedisClusterNode, shortNodeId} from './clusterNodes.js'
import {type NodeView} from './redisTrouble.js'

/** MoveSide is one master a move names: its shardctl (short) id and recorded address. */
export interface MoveSide {
  node: string
  address: string
}

/**
 * SideFailover is what the masters' views say about the two sides of a move that failed:
 * - `live`: both are live masters (or nothing says otherwise): the trouble is something else;
 * - `down`: a side is not a live master and not shown replaced yet (stopped, cut off, or its
 *   failover still running): waiting may bring it back or finish the failover;
 * - `failed-over`: Redis replaced a side: it answers as a replica, some live master lists it as
 *   one, or it is flagged failed with its slots taken over (see takenOver). The
 *   successor is the live master it now replicates, or the one serving the slots the side had
 *   in the move (null when neither shows); `seed` is a live master to run `redis fix` through.
 */
export type SideFailover =
  | {kind: 'live'}
  | {kind: 'down'; side: 'source' | 'target'; node: string}
  | {kind: 'failed-over'; side: 'source' | 'target'; node: string; address: string; successor: MoveSide | null; seed: string | null}

/** MoveFailoverInput: the move's sides, the slots each held when it stopped, and the `CLUSTER NODES` views of every node that answered. */
export interface MoveFailoverInput {
  source: MoveSide
  target: MoveSide
  /** sourceSlots: the move's slots still on the source (from the cursor on); targetSlots: those already moved. */
  sourceSlots: readonly number[]
  targetSlots: readonly number[]
  views: readonly NodeView[]
}

/**
 * moveSideFailover (pure) decides whether a side of a move Redis failed over, looking at the
 * source first. A move runner that fails asks it before retrying: a side Redis replaced cannot
 * come back as the master the records name (a failed-over master rejoins as a replica), so
 * retrying is pointless and the slot state is handed to `redis fix`.
 */
export function moveSideFailover(input: MoveFailoverInput): SideFailover {
  const live = liveMasters(input.views)
  const isLive = (s: MoveSide) => live.some((m) => shortNodeId(m.me.id) === s.node)
  for (const [side, s, other, slots] of [['source', input.source, input.target, input.sourceSlots], ['target', input.target, input.source, input.targetSlots]] as const) {
    if (isLive(s)) continue
    const fullId = input.views.flatMap((v) => v.nodes).find((n) => shortNodeId(n.id) === s.node)?.id
    const own = input.views.map((v) => myself(v.nodes)).find((me) => me !== undefined && shortNodeId(me.id) === s.node)
    const listedAsReplica = live.map((m) => m.view.find((n) => n.id === fullId)).find((n) => n?.masterId)
    const masterNow = own?.masterId ?? listedAsReplica?.masterId ?? null
    const replaced = masterNow !== null || (fullId !== undefined && takenOver(fullId, live))
    if (!replaced) return {kind: 'down', side, node: s.node}
    const byLink = masterNow !== null ? live.find((m) => m.me.id === masterNow) : undefined
    const bySlots = live.find((m) => shortNodeId(m.me.id) !== other.node && slots.some((slot) => m.me.slots.includes(slot)))
    const next = byLink ?? bySlots
    const successor = next ? {node: shortNodeId(next.me.id), address: next.address} : null
    const seed = isLive(other) ? other.address : (successor?.address ?? live[0]?.address ?? null)
    return {kind: 'failed-over', side, node: s.node, address: s.address, successor, seed}
  }
  return {kind: 'live'}
}

/** LiveMaster is a node that answered `CLUSTER NODES` as a master not flagged failing: its address, its own entry and its view. */
interface LiveMaster {
  address: string
  me: RedisClusterNode
  view: readonly RedisClusterNode[]
}

function liveMasters(views: readonly NodeView[]): LiveMaster[] {
  return views.map((v) => ({address: v.address, me: myself(v.nodes), view: v.nodes})).filter((x): x is LiveMaster => x.me !== undefined && isUp(x.me) && x.me.flags.includes('master'))
}

/**
 * BystanderDown is a recorded master the move does not name that did not answer: the move
 * cannot run while it is down (the runner drives every recorded master, see
 * downBystander). `failedOver`: the live masters show Redis replaced it (see takenOver);
 * `seed` is a live master to run `redis fix` through.
 */
export interface BystanderDown {
  node: string
  address: string
  failedOver: boolean
  seed: string | null
}

/** BystanderInput: the move's sides, the other recorded masters, and the `CLUSTER NODES` views of every node that answered. */
export interface BystanderInput {
  source: MoveSide
  target: MoveSide
  others: readonly MoveSide[]
  views: readonly NodeView[]
}

/**
 * downBystander (pure) names the first recorded master, neither the move's source nor its
 * target, that gave no view of its own: a redis move connects to every recorded master
 * before it changes anything (SETSLOT NODE goes to each), so one down stops every run, and
 * bounded retries ended with a reason that named neither it nor the way out. One that
 * answers, even as a replica (Redis failed it over and it rejoined), is not down: the move
 * runs (a replica's refused SETSLOT is left to gossip). Undefined when none is down.
 */
export function downBystander(input: BystanderInput): BystanderDown | undefined {
  const live = liveMasters(input.views)
  const answered = new Set(input.views.map((v) => myself(v.nodes)).filter((me) => me !== undefined).map((me) => shortNodeId(me.id)))
  const sides = new Set([input.source.node, input.target.node])
  const down = input.others.find((o) => !sides.has(o.node) && !answered.has(o.node))
  if (!down) return undefined
  const fullId = input.views.flatMap((v) => v.nodes).find((n) => shortNodeId(n.id) === down.node)?.id
  const liveSide = [input.source, input.target].find((s) => live.some((m) => shortNodeId(m.me.id) === s.node))
  return {node: down.node, address: down.address, failedOver: fullId !== undefined && takenOver(fullId, live), seed: liveSide?.address ?? live[0]?.address ?? null}
}

/**
 * bystanderDownText is the one line a run stopped by a down bystander fails with (the
 * executor's retry line, and the last error its give-up reason names): which master, why
 * it stops the move, and the way out: restart it, or, when Redis failed it over and it is
 * gone for good, `redis fix` and `cluster init --force` through a live master (the records
 * still name it).
 */
export function bystanderDownText(b: BystanderDown): string {
  const seed = b.seed ?? '<live node>'
  const what = `master ${b.node} at ${b.address} (not a side of this move) does not answer${b.failedOver ? ', and Redis failed it over' : ''}: a redis move drives every recorded master, so none runs while it is down`
  if (!b.failedOver) return `${what}; restart it, then \`shardctl apply --resume\` runs the move from where it stopped`
  return `${what}; restart it (it rejoins as a replica), then \`shardctl apply --resume\`; or, if it is gone for good, run \`shardctl redis fix --seed ${seed} --yes\`, then \`shardctl cluster init --engine redis --seed ${seed} --force\` (the records name it) and plan again`
}

/**
 * takenOver tells whether the live masters' views show the failed master `id` replaced: every
 * view that lists it flags it `fail`, gives it no slot (but those the viewer imports from it:
 * Redis keeps an importing slot's owner whatever gossip says) and no replica that is up (one
 * could still be elected), and its config epoch says it once served slots (Redis never fails
 * over a master without slots).
 */
function takenOver(id: string, live: readonly LiveMaster[]): boolean {
  const entries = live.flatMap((m) => {
    const n = m.view.find((x) => x.id === id)
    return n ? [{viewer: m.me, n}] : []
  })
  if (entries.length === 0) return false
  if (entries.some((e) => e.n.slots.some((slot) => e.viewer.importing.get(slot) !== id))) return false
  if (live.some((m) => m.view.some((n) => n.masterId === id && isUp(n)))) return false
  return entries.every((e) => e.n.configEpoch > 0 && e.n.flags.includes('fail'))
}

function isUp(n: RedisClusterNode): boolean {
  return !n.flags.includes('fail') && !n.flags.includes('fail?') && !n.flags.includes('noaddr')
}

/**
 * failoverHandOff is the one-line reason a move is recorded `failed` with when a side failed
 * over: what happened, that nothing more was changed, and the way out through a live master.
 */
export function failoverHandOff(f: Extract<SideFailover, {kind: 'failed-over'}>, openSlot: number | null): string {
  const seed = f.seed ?? '<live node>'
  const took = f.successor ? ` (${f.successor.node} at ${f.successor.address} took its place)` : ''
  const open = openSlot !== null ? `slot ${openSlot} may be left open; ` : ''
  return `${f.side} master ${f.node} at ${f.address} was failed over by Redis mid-move${took}; the move stopped and changed nothing more: ${open}run \`shardctl redis fix --seed ${seed} --yes\` (it finishes open slots towards the side holding their keys), then \`shardctl cluster init --engine redis --seed ${seed} --force\` (the records name the failed master) and plan again`
}
