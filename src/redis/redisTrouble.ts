import {checkWayOut, lossWayOut} from '../model/move.js'
import {myself, type RedisClusterNode, shortNodeId} from './clusterNodes.js'
import {failedTargetReplaced} from './openSlotSides.js'
import {SLOT_COUNT} from './slotMap.js'

/**
 * What a Redis Cluster's operator needs to see after an interrupted migration or a failover,
 * decided from the nodes' own `CLUSTER NODES` views and shardctl's records. Pure, no I/O:
 * src/redis/redisStatus.ts gathers the input, `cluster status` shows the result.
 */

/** NodeView is one node's `CLUSTER NODES` answer, with the address it was asked at. */
export interface NodeView {
  address: string
  nodes: readonly RedisClusterNode[]
}

/** RedisTroubleInput is everything {@link redisTrouble} decides from. */
export interface RedisTroubleInput {
  /** views are the answers of every node that answered `CLUSTER NODES` (masters and replicas). */
  views: readonly NodeView[]
  /** recordedNodes are the masters etcd records (short ids). */
  recordedNodes: readonly {id: string; address: string}[]
  /** recordedShards are etcd's shards as slot runs [first, end) and the master recorded to serve them. */
  recordedShards: readonly {id: number; first: number; end: number; owner: string}[]
  /** movingShards are the shards with a move that is not terminal (their slots may sit on either side). */
  movingShards: ReadonlySet<number>
  /** executorRunning: a shardctl executor holds the cluster lock (it closes the slots it opened). */
  executorRunning: boolean
  /** seed is the recorded seed, named in the ways out when it is a live master. */
  seed?: string
  /** lossWarnings are the moves' warnings of possible data loss no operator acknowledged yet (model/move.ts lossWarnings), any phase, `done` included. */
  lossWarnings?: readonly {move: string; shard: number; phase: string; node: string | null; at: string; text: string}[]
  /** checkWarnings are the moves' warnings that report no loss but wait for an operator's check, not acknowledged yet (model/move.ts checkWarnings: a slot held open, a restart nobody could judge). */
  checkWarnings?: readonly {move: string; shard: number; phase: string; node: string | null; at: string; text: string}[]
}

/** SlotSpan is slots [from, to] (both included). */
export interface SlotSpan {
  from: number
  to: number
}

/** NodeState is how the cluster sees a master that is not answering as one: `live` (it is), `replica` (failed over, it rejoined under its successor), `fail` (the masters agreed it failed), `fail?` (suspected by some), `unreachable` (no answer, not flagged yet), `unknown` (no live master lists it). */
export type NodeState = 'live' | 'replica' | 'fail' | 'fail?' | 'unreachable' | 'unknown'

/** OpenSlotTrouble is a run of slots left MIGRATING/IMPORTING between the same two masters. */
export interface OpenSlotTrouble {
  slots: SlotSpan
  /** source is the MIGRATING side, target the IMPORTING side (short ids; null when no mark names it). */
  source: string | null
  target: string | null
  /** sourceState, targetState: whether each side is still a live master (see NodeState). */
  sourceState: NodeState
  targetState: NodeState
  /** inFlight: both sides live and an executor is running: its own migration, which it closes itself (not trouble). */
  inFlight: boolean
  wayOut: string
}

/** FailedMasterTrouble is a master (recorded, or listed as a master by a live one) that is not a live master now. */
export interface FailedMasterTrouble {
  node: string
  address: string
  state: Exclude<NodeState, 'live'>
  /** seenFailedBy is how many live masters flag it `fail` or `fail?`, of `masters` live masters. */
  seenFailedBy: number
  masters: number
  /** slots is how many slots live masters still give it (0: failed over, or it never had any). */
  slots: number
  /** takenBy are the live masters that now serve slots etcd records on it (short ids). */
  takenBy: string[]
  recorded: boolean
  /** settled: Redis failed it over and etcd no longer records it (not recorded, no slot left): listed, not trouble. */
  settled: boolean
  wayOut: string
}

/** UnservedSlots is a run of slots no live master serves by its own view. */
export interface UnservedSlots {
  slots: SlotSpan
  /** lastOwner is the node live masters still give them to (short id), null when none does. */
  lastOwner: string | null
  wayOut: string
}

/** ContestedSlots is a run of slots more than one live master serves by its own view. */
export interface ContestedSlots {
  slots: SlotSpan
  owners: string[]
  wayOut: string
}

/** RecordMismatch groups recorded shards whose slots are not all served by the master etcd records, by who serves them instead. */
export interface RecordMismatch {
  recordedOn: string
  /** servedBy are the live masters serving the slots instead (short ids); empty when none does. */
  servedBy: string[]
  shards: number[]
  /** slots is how many of those shards' slots are off their recorded master. */
  slots: number
  /** inFlight: the shards have a move that is not terminal and an executor is running (it changes the record itself: not trouble). */
  inFlight: boolean
  wayOut: string
}

/**
 * UnreplicatedMaster is a live master serving slots with no live replica, in a cluster that
 * shows it is meant to have them (another live master has one, or a failed master was failed
 * over): after a failover the replica that took over is alone, its old master is down, and
 * one more failure leaves its slots served by no one.
 */
export interface UnreplicatedMaster {
  node: string
  address: string
  /** slots is how many slots it serves by its own view. */
  slots: number
  /** failedReplicas are the nodes listed as its replicas that are flagged failed (short ids). */
  failedReplicas: string[]
  wayOut: string
}

/**
 * DataLossWarning is a move's warning that a master it used restarted without persistence
 * while it ran (src/redis/moveSideRestart.ts), not acknowledged yet: keys may be lost, whatever
 * the move's phase (it ran on, usually to `done`), so status lists it until `moves ack`.
 */
export interface DataLossWarning {
  move: string
  shard: number
  phase: string
  /** node is the master that restarted (null: a warning that does not say). */
  node: string | null
  at: string
  text: string
  wayOut: string
}

/**
 * CheckWarning is a move's warning that reports no loss but waits for an operator's check (a
 * slot held open with keys on both sides, a master's restart while the move ran that nobody
 * could judge: model/move.ts checkWarnings), not acknowledged yet. `top`'s TROUBLE panel showed
 * them; until session 41 `cluster status` did not, so one could wait unseen there.
 */
export type CheckWarning = DataLossWarning

/** RedisTrouble is the Redis part of `cluster status` (its `redis` field in --json). */
export interface RedisTrouble {
  /** seed is the live master the ways out name (the recorded seed when it is one); null when no master answered. */
  seed: string | null
  /** mastersAnswering is how many nodes answered as live masters. */
  mastersAnswering: number
  openSlots: OpenSlotTrouble[]
  failedMasters: FailedMasterTrouble[]
  unservedSlots: UnservedSlots[]
  contestedSlots: ContestedSlots[]
  recordMismatches: RecordMismatch[]
  /** unreplicatedMasters: live masters serving slots with no live replica (see UnreplicatedMaster). */
  unreplicatedMasters: UnreplicatedMaster[]
  /** dataLossWarnings: moves warned that a master they used may have lost keys, not acknowledged (see DataLossWarning). */
  dataLossWarnings: DataLossWarning[]
  /** checkWarnings: moves' warnings that are not a loss but wait for a check, not acknowledged (see CheckWarning); each way out says `not a loss`. */
  checkWarnings: CheckWarning[]
  /** trouble: something above needs the operator (open slots and records a running executor is changing do not count). */
  trouble: boolean
}

/** NO_SEED is what a way out names when no master answered. */
const NO_SEED = '<live node>'

/**
 * redisTrouble (pure) decides what `cluster status` reports about a Redis Cluster:
 * - slots left open (MIGRATING/IMPORTING by the live masters' own views), paired source →
 *   target, with whether each side is still a live master;
 * - masters that are not live ones any more: flagged `fail`/`fail?`, rejoined as a replica
 *   after a failover, not answering, or gone from the cluster, with the slots live masters
 *   still give them and who took their recorded slots;
 * - slots no live master serves, and slots more than one serves (each by its own view);
 * - recorded shards whose slots the recorded master does not serve;
 * - live masters serving slots with no live replica, in a cluster meant to have them (another
 *   master has one, or a master was failed over): what a failover leaves;
 * - moves warned that a master they used restarted without persistence (keys may be lost),
 *   until an operator acknowledges them with `moves ack`.
 * Each item names its way out, with a live master as `--seed`. A slot open between two live
 * masters while an executor runs, and the record of a shard it is moving, are its own work in
 * flight; a failed master no record names and that serves no slot is settled: listed, but
 * not trouble.
 */
export function redisTrouble(input: RedisTroubleInput): RedisTrouble {
  const live = liveMasters(input.views)
  const liveIds = new Set(live.map((m) => m.me.id))
  const seed = pickSeed(live, input.seed)
  const s = seed ?? NO_SEED
  const stateOf = nodeStateOf(input, live)
  const owners = slotOwners(live)
  const movingSlots = new Set<number>()
  for (const sh of input.recordedShards) if (input.movingShards.has(sh.id)) for (let slot = sh.first; slot < sh.end; slot++) movingSlots.add(slot)

  const openSlots = openSlotRuns(live, (source, target, slot) => {
    const sourceState = source === undefined ? 'unknown' : stateOf(source)
    const targetState = target === undefined ? 'unknown' : stateOf(target)
    const bothLive = sourceState === 'live' && targetState === 'live'
    const inFlight = bothLive && input.executorRunning
    let wayOut: string
    if (inFlight) wayOut = 'the running executor closes it (if it died, its lock lapses within 10 s: then `shardctl apply --resume`)'
    else if (bothLive) wayOut = movingSlots.has(slot) ? `\`shardctl apply --resume\` finishes the move that left it (or \`shardctl redis fix --seed ${s} --yes\`)` : `\`shardctl redis fix --seed ${s} --yes\` (without --yes it shows what it would do)`
    else if (target !== undefined && targetState !== 'live' && targetState !== 'replica' && !failedTargetReplaced(target, live.map((m) => m.view))) wayOut = `bring ${shortNodeId(target)} back, or wait for Redis to fail it over to a replica (it may hold the keys already migrated), then \`shardctl redis fix --seed ${s} --yes\``
    else wayOut = `\`shardctl redis fix --seed ${s} --yes\` (it finishes the slot towards the side holding the migrated keys), then \`shardctl cluster init --engine redis --seed ${s} --force\``
    return {source: source === undefined ? null : shortNodeId(source), target: target === undefined ? null : shortNodeId(target), sourceState, targetState, inFlight, wayOut}
  })

  const failedMasters = failedMasterList(input, live, liveIds, stateOf, owners, s)

  const unservedSlots: UnservedSlots[] = []
  if (live.length > 0) {
    const lastOwner = (slot: number): string | null => {
      for (const m of live) {
        const n = m.view.find((x) => !liveIds.has(x.id) && x.slots.includes(slot))
        if (n) return n.id
      }
      return null
    }
    for (const run of runsOf((slot) => ((owners[slot]?.length ?? 0) === 0 ? (lastOwner(slot) ?? '') : undefined))) {
      const owner = run.key === '' ? null : run.key
      const wayOut = owner
        ? `bring ${shortNodeId(owner)} back, or let Redis fail it over to a replica; if it is gone for good with no replica, \`redis-cli --cluster fix ${s}\` gives the slots to a live master (their keys are lost)`
        : `\`redis-cli --cluster fix ${s}\` gives them to a live master`
      unservedSlots.push({slots: run.slots, lastOwner: owner === null ? null : shortNodeId(owner), wayOut})
    }
  }

  const contestedSlots: ContestedSlots[] = runsOf((slot) => ((owners[slot]?.length ?? 0) > 1 ? owners[slot]!.join(',') : undefined)).map((run) => ({
    slots: run.slots,
    owners: run.key.split(',').map(shortNodeId),
    wayOut: `wait a few seconds for gossip to settle (Redis demotes a failed-over master that came back); if it stays, check with \`redis-cli --cluster check ${s}\``,
  }))

  const recordMismatches = live.length === 0 ? [] : mismatches(input, owners, s)

  const unreplicatedMasters = unreplicated(input.views, live)

  const dataLossWarnings = (input.lossWarnings ?? []).map((w) => ({...w, wayOut: lossWayOut(w.move)}))
  const checkWarnings = (input.checkWarnings ?? []).map((w) => ({...w, wayOut: checkWayOut(w.move)}))

  const trouble = dataLossWarnings.length > 0 || checkWarnings.length > 0 || openSlots.some((o) => !o.inFlight) || failedMasters.some((f) => !f.settled) || unservedSlots.length > 0 || contestedSlots.length > 0 || recordMismatches.some((r) => !r.inFlight) || unreplicatedMasters.length > 0 || live.length === 0
  return {seed, mastersAnswering: live.length, openSlots, failedMasters, unservedSlots, contestedSlots, recordMismatches, unreplicatedMasters, dataLossWarnings, checkWarnings, trouble}
}

/** LiveMaster is a node that answered and calls itself a master, not failed: its own entry and view. */
interface LiveMaster {
  address: string
  me: RedisClusterNode
  view: readonly RedisClusterNode[]
}

function liveMasters(views: readonly NodeView[]): LiveMaster[] {
  const out = new Map<string, LiveMaster>()
  for (const v of views) {
    const me = myself(v.nodes)
    if (!me || !me.flags.includes('master') || me.flags.includes('fail') || me.flags.includes('fail?') || me.flags.includes('noaddr')) continue
    if (!out.has(me.id)) out.set(me.id, {address: v.address, me, view: v.nodes})
  }
  return [...out.values()].sort((a, b) => a.me.id.localeCompare(b.me.id))
}

function pickSeed(live: readonly LiveMaster[], recorded: string | undefined): string | null {
  if (recorded !== undefined && live.some((m) => m.address === recorded || m.me.address === recorded)) return recorded
  return live[0]?.address ?? null
}

/** nodeStateOf answers, for a full Redis id, how the cluster sees that node now (see NodeState). */
function nodeStateOf(input: RedisTroubleInput, live: readonly LiveMaster[]): (id: string) => NodeState {
  return (id) => {
    if (live.some((m) => m.me.id === id)) return 'live'
    const own = input.views.map((v) => myself(v.nodes)).find((me) => me?.id === id)
    const entries = live.map((m) => m.view.find((n) => n.id === id)).filter((n) => n !== undefined)
    if (own?.flags.includes('slave') || entries.some((n) => n.masterId !== null || n.flags.includes('slave'))) return 'replica'
    if (entries.some((n) => n.flags.includes('fail'))) return 'fail'
    if (entries.some((n) => n.flags.includes('fail?'))) return 'fail?'
    return entries.length > 0 || own ? 'unreachable' : 'unknown'
  }
}

/** slotOwners lists, for every slot, the live masters serving it by their own view (full ids). */
function slotOwners(live: readonly LiveMaster[]): string[][] {
  const owners = Array.from({length: SLOT_COUNT}, () => [] as string[])
  for (const m of live) for (const slot of m.me.slots) owners[slot]?.push(m.me.id)
  return owners
}

/** openSlotRuns pairs every open slot's marks (source: MIGRATING side, target: IMPORTING side) and groups consecutive slots that get the same report. */
function openSlotRuns(live: readonly LiveMaster[], report: (source: string | undefined, target: string | undefined, slot: number) => Omit<OpenSlotTrouble, 'slots'>): OpenSlotTrouble[] {
  const ends = new Map<number, {source?: string; target?: string}>()
  for (const m of live) {
    for (const [slot, to] of m.me.migrating) ends.set(slot, {...ends.get(slot), source: m.me.id, target: ends.get(slot)?.target ?? to})
    for (const [slot, from] of m.me.importing) ends.set(slot, {...ends.get(slot), target: m.me.id, source: ends.get(slot)?.source ?? from})
  }
  const out: OpenSlotTrouble[] = []
  let key = ''
  for (const [slot, e] of [...ends].sort((a, b) => a[0] - b[0])) {
    const r = report(e.source, e.target, slot)
    const k = JSON.stringify(r)
    const last = out[out.length - 1]
    if (last && k === key && last.slots.to === slot - 1) last.slots.to = slot
    else out.push({slots: {from: slot, to: slot}, ...r})
    key = k
  }
  return out
}

/** runsOf groups the slots for which `keyOf` answers a key into runs of consecutive slots with the same key. */
function runsOf(keyOf: (slot: number) => string | undefined): {slots: SlotSpan; key: string}[] {
  const out: {slots: SlotSpan; key: string}[] = []
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    const key = keyOf(slot)
    if (key === undefined) continue
    const last = out[out.length - 1]
    if (last && last.key === key && last.slots.to === slot - 1) last.slots.to = slot
    else out.push({slots: {from: slot, to: slot}, key})
  }
  return out
}

function failedMasterList(input: RedisTroubleInput, live: readonly LiveMaster[], liveIds: ReadonlySet<string>, stateOf: (id: string) => NodeState, owners: readonly string[][], s: string): FailedMasterTrouble[] {
  // Candidates: every recorded master, and every node a live master lists as a master.
  const candidates = new Map<string, {id: string; address: string; recorded: boolean}>()
  const fullId = (short: string): string | undefined => {
    for (const v of input.views) for (const n of v.nodes) if (shortNodeId(n.id) === short) return n.id
    return undefined
  }
  for (const r of input.recordedNodes) {
    const id = fullId(r.id) ?? r.id
    candidates.set(id, {id, address: r.address, recorded: true})
  }
  for (const m of live) for (const n of m.view) if (n.flags.includes('master') && !candidates.has(n.id)) candidates.set(n.id, {id: n.id, address: n.address, recorded: false})
  const out: FailedMasterTrouble[] = []
  for (const c of [...candidates.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    if (liveIds.has(c.id)) continue
    const state = stateOf(c.id) as Exclude<NodeState, 'live'>
    const entries = live.map((m) => ({viewer: m.me, n: m.view.find((x) => x.id === c.id)}))
    const seenFailedBy = entries.filter((e) => e.n?.flags.includes('fail') || e.n?.flags.includes('fail?')).length
    // A target keeps the source it imports from as the slot's owner whatever gossip says: those slots do not count.
    const slots = Math.max(0, ...entries.map((e) => e.n?.slots.filter((slot) => e.viewer.importing.get(slot) !== c.id).length ?? 0))
    const short = shortNodeId(c.id)
    const takenBy = new Set<string>()
    for (const sh of input.recordedShards) {
      if (sh.owner !== short) continue
      for (let slot = sh.first; slot < sh.end; slot++) for (const o of owners[slot] ?? []) if (o !== c.id) takenBy.add(shortNodeId(o))
    }
    const reRecord = c.recorded ? `; \`shardctl cluster init --engine redis --seed ${s} --force\` records the master that took its place` : ''
    let wayOut: string
    if (state === 'replica') wayOut = `Redis failed it over; it is a replica now${reRecord || '; nothing to do'}`
    else if (state === 'unknown') wayOut = c.recorded ? `no live master lists it: \`shardctl cluster init --engine redis --seed ${s} --force\` re-records the cluster` : 'no live master lists it any more'
    else if (slots === 0) wayOut = `Redis failed it over (or it served no slot)${reRecord}; restarted, it rejoins as a replica${c.recorded ? '' : `, or remove it: \`redis-cli --cluster del-node ${s} ${c.id}\``}`
    else if (state === 'fail?') wayOut = `suspected down by ${seenFailedBy} of ${live.length} masters; its ${slots} slots are down until it answers again or a majority agree and a replica takes over: restart redis-server at ${c.address}`
    else if (state === 'fail') wayOut = `its ${slots} slots are down until a replica takes over (none is up, or the election is still running) or it comes back: restart redis-server at ${c.address}`
    else wayOut = `it does not answer at ${c.address} and no live master flags it yet: check the process and the network from this host`
    out.push({node: short, address: c.address, state, seenFailedBy, masters: live.length, slots, takenBy: [...takenBy].sort(), recorded: c.recorded, settled: !c.recorded && slots === 0, wayOut})
  }
  return out
}

function mismatches(input: RedisTroubleInput, owners: readonly string[][], s: string): RecordMismatch[] {
  const groups = new Map<string, RecordMismatch>()
  for (const sh of input.recordedShards) {
    const instead = new Set<string>()
    let off = 0
    for (let slot = sh.first; slot < sh.end; slot++) {
      const o = (owners[slot] ?? []).map(shortNodeId)
      if (o.length === 1 && o[0] === sh.owner) continue
      off++
      for (const x of o) if (x !== sh.owner) instead.add(x)
    }
    if (off === 0) continue
    const moving = input.movingShards.has(sh.id)
    const inFlight = moving && input.executorRunning
    const servedBy = [...instead].sort()
    const key = `${sh.owner}>${servedBy.join(',')}>${moving}`
    const wayOut = inFlight
      ? 'the running executor records the move when every slot is on its target'
      : servedBy.length === 0
        ? `no live master serves them (see the masters and slots above); once one does, and it is not ${sh.owner}, \`shardctl cluster init --engine redis --seed ${s} --force\` re-records the cluster`
        : moving
        ? `a move of these shards did not finish: \`shardctl apply --resume\` (if a master it names failed over: \`shardctl redis fix --seed ${s} --yes\`, then \`shardctl cluster init --engine redis --seed ${s} --force\`)`
        : `the cluster changed outside shardctl: \`shardctl cluster init --engine redis --seed ${s} --force\` re-records it (close open slots first)`
    const g = groups.get(key) ?? {recordedOn: sh.owner, servedBy, shards: [], slots: 0, inFlight, wayOut}
    g.shards.push(sh.id)
    g.slots += off
    groups.set(key, g)
  }
  return [...groups.values()]
}

/** isDown tells whether a viewer flags `n` failed (or suspects it). */
function isDown(n: RedisClusterNode): boolean {
  return n.flags.includes('fail') || n.flags.includes('fail?') || n.flags.includes('noaddr')
}

/**
 * unreplicated lists the live masters serving slots that no view shows a live replica of,
 * when the cluster is meant to have replicas: another live master has a live one, or some
 * master is flagged failed with no slot left (Redis failed it over, so it had a replica). A
 * cluster built without replicas reports nothing: that is the operator's choice, not trouble.
 * A replica counts as live when it answered as one itself or no view flags it down.
 */
function unreplicated(views: readonly NodeView[], live: readonly LiveMaster[]): UnreplicatedMaster[] {
  const all = views.flatMap((v) => v.nodes)
  const downIds = new Set(all.filter(isDown).map((n) => n.id))
  const answeredAsReplica = new Set(views.map((v) => myself(v.nodes)).filter((me) => me !== undefined && me.masterId !== null && !isDown(me)).map((me) => me!.id))
  const replicasOf = (id: string): {live: string[]; down: string[]} => {
    const ids = new Set(all.filter((n) => n.masterId === id).map((n) => n.id))
    const liveOnes = [...ids].filter((r) => answeredAsReplica.has(r) || !downIds.has(r))
    return {live: liveOnes, down: [...ids].filter((r) => !liveOnes.includes(r))}
  }
  const withSlots = live.filter((m) => m.me.slots.length > 0)
  const lacking = withSlots.filter((m) => replicasOf(m.me.id).live.length === 0)
  if (lacking.length === 0) return []
  const liveIds = new Set(live.map((m) => m.me.id))
  const failedOver = all.filter((n) => !liveIds.has(n.id) && n.flags.includes('master') && n.flags.includes('fail') && n.slots.length === 0 && n.configEpoch > 0)
  const meantToHave = live.some((m) => replicasOf(m.me.id).live.length > 0) || failedOver.length > 0
  if (!meantToHave) return []
  const failedNames = [...new Map(failedOver.map((n) => [n.id, `${shortNodeId(n.id)} at ${n.address}`])).values()]
  return lacking.map((m) => {
    const down = replicasOf(m.me.id).down
    const back = down.length > 0 ? `restart its failed replica (${down.map(shortNodeId).join(', ')}), or add one` : failedNames.length > 0 ? `restart the master it took over from (failed: ${failedNames.join(', ')}): it rejoins as its replica; or add one` : 'add one'
    return {
      node: shortNodeId(m.me.id),
      address: m.address,
      slots: m.me.slots.length,
      failedReplicas: down.map(shortNodeId),
      wayOut: `${back}: \`redis-cli --cluster add-node NEW_HOST:PORT ${m.address} --cluster-slave --cluster-master-id ${m.me.id}\` (or \`CLUSTER REPLICATE ${m.me.id}\` on a spare node); until then one more failure leaves its ${m.me.slots.length} slots served by no one`,
    }
  })
}
