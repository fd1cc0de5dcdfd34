import {boundedWait} from '../clock/boundedWait.js'
import {type Redis} from 'ioredis'
import {errorMessage, UserError} from '../errors/errors.js'
import {myself} from './clusterNodes.js'
import {clusterCommand, readClusterNodes} from './redisConnection.js'
import {type OwnView, parsePersistence, type Persistence} from './moveSideRestart.js'

/** MasterConn is an open admin connection to one master, with its full Redis id and address. */
export interface MasterConn {
  /** node is the shardctl node id (short). */
  node: string
  redisId: string
  address: string
  conn: Redis
}

/**
 * BeforeSend is called, synchronously and right before the write, with the command about to be
 * sent that changes a master; it throws to keep the command from being sent (the redis move
 * runner and `redis fix --yes` check the executor lock there: src/redis/lockGate.ts, leaseGuards.ts).
 */
export type BeforeSend = (what: string) => void

/**
 * MigrateBound is a MIGRATE's BeforeSend: called, synchronously and right before the write,
 * with the command and the timeout asked for, it returns the timeout to send and `wait`, asked
 * at the send and again each time that long passed without an answer: how much longer to wait
 * (null: as long as the connection's command timeout), or it throws to stop waiting; or it
 * throws to keep the MIGRATE from being sent (the holder of the executor lock bounds both by
 * its lease: src/redis/lockGate.ts, migrateWithinLease; leaseGuards.ts).
 */
export type MigrateBound = (what: string, requestedMs: number) => {timeoutMs: number; wait: () => number | null}

/** SlotView is what one master says about a slot: whether it owns it and whether it is open. */
export interface SlotView {
  owns: boolean
  /** slotCount is how many slots the master serves in all. */
  slotCount: number
  migratingTo: string | null
  importingFrom: string | null
}

/** slotView reads `CLUSTER NODES` on `m` and reports its own view of `slot`. */
export async function slotView(m: MasterConn, slot: number): Promise<SlotView> {
  const me = myself(await readClusterNodes(m.conn))
  if (!me) throw new UserError('PRECONDITION', `redis node ${m.address} did not report itself in CLUSTER NODES`, 'check that it runs in cluster mode')
  return {owns: me.slots.includes(slot), slotCount: me.slots.length, migratingTo: me.migrating.get(slot) ?? null, importingFrom: me.importing.get(slot) ?? null}
}

/**
 * slotsNotOwned lists the slots of [first, end) that `m` does not serve by its own `CLUSTER
 * NODES` view (the view `plan` checks shard records against), in ascending order.
 */
export async function slotsNotOwned(m: MasterConn, first: number, end: number): Promise<number[]> {
  const me = myself(await readClusterNodes(m.conn))
  if (!me) throw new UserError('PRECONDITION', `redis node ${m.address} did not report itself in CLUSTER NODES`, 'check that it runs in cluster mode')
  const owned = new Set(me.slots)
  const out: number[] = []
  for (let slot = first; slot < end; slot++) if (!owned.has(slot)) out.push(slot)
  return out
}

/**
 * slotsStaying counts the slots `m` serves by its own `CLUSTER NODES` view that it does not
 * mark MIGRATING: those no migration is taking away from it now. Zero once every slot it has
 * left is on its way out.
 */
export async function slotsStaying(m: MasterConn): Promise<number> {
  const me = myself(await readClusterNodes(m.conn))
  if (!me) throw new UserError('PRECONDITION', `redis node ${m.address} did not report itself in CLUSTER NODES`, 'check that it runs in cluster mode')
  return me.slots.filter((slot) => !me.migrating.has(slot)).length
}

/** countKeys is CLUSTER COUNTKEYSINSLOT on `m`. */
export async function countKeys(m: MasterConn, slot: number): Promise<number> {
  return Number(await clusterCommand(m.conn, 'COUNTKEYSINSLOT', slot))
}

/**
 * openSlot marks `slot` IMPORTING on `to` (from `from`), then MIGRATING on `from` (to `to`):
 * in that order, so a client redirected by ASK always finds the target ready. Idempotent
 * (repeating it on an open slot re-sets the same marks).
 */
export async function openSlot(from: MasterConn, to: MasterConn, slot: number, beforeSend?: BeforeSend): Promise<void> {
  beforeSend?.(`SETSLOT ${slot} IMPORTING on ${to.node}`)
  await clusterCommand(to.conn, 'SETSLOT', slot, 'IMPORTING', from.redisId)
  beforeSend?.(`SETSLOT ${slot} MIGRATING on ${from.node}`)
  await clusterCommand(from.conn, 'SETSLOT', slot, 'MIGRATING', to.redisId)
}

/**
 * migrateKeys moves `keys` from `from` to `to` in one `MIGRATE host port "" 0 timeout REPLACE
 * KEYS ...` (REPLACE: a key still on the source is authoritative, since writes to it go to the
 * source until it leaves; a retry after a lost reply must not fail on BUSYKEY). Returns
 * whether any of them was still there (NOKEY = all gone already). `replace: false` leaves
 * REPLACE out, for a source that is not authoritative (the replica that took over a failed
 * source served the slot without ASK, so a key on both sides may hold writes each side
 * acknowledged): the target then refuses a key it already holds with BUSYKEY (the other keys
 * of the batch still move), and the error is thrown (see isBusyKey).
 */
export async function migrateKeys(from: MasterConn, to: MasterConn, keys: readonly string[], timeoutMs: number, opts: {replace?: boolean; beforeSend?: BeforeSend; within?: MigrateBound} = {}): Promise<boolean> {
  const i = to.address.lastIndexOf(':')
  const replace = opts.replace === false ? [] : ['REPLACE']
  const what = `MIGRATE of ${keys.length} key(s) from ${from.node} to ${to.node}`
  opts.beforeSend?.(what)
  const bound = opts.within?.(what, timeoutMs)
  const call = from.conn.call('MIGRATE', to.address.slice(0, i).replace(/^\[|\]$/g, ''), to.address.slice(i + 1), '', '0', String(bound?.timeoutMs ?? timeoutMs), ...replace, 'KEYS', ...keys)
  const reply = bound ? await answerWithin(call, bound.wait) : await call
  return reply !== 'NOKEY'
}

/**
 * answerWithin is `call`'s answer, waited for `wait()` ms at a time (null: without a bound of
 * its own) for as long as `wait` does not throw; what it throws is thrown instead. The command
 * may still be running then (Redis cannot be told to stop it); its answer, when it comes, is
 * dropped: the caller stops and whoever runs next reads Redis's own state.
 */
async function answerWithin<T>(call: Promise<T>, wait: () => number | null): Promise<T> {
  // boundedWait handles a failure that comes after waiting stopped (nobody listens any more).
  for (;;) {
    const ms = wait()
    if (ms === null) return await call
    const got = await boundedWait(call, ms)
    if (got.done) return got.value
  }
}

/** isBusyKey tells whether `err` is the target's BUSYKEY refusal relayed by MIGRATE without REPLACE (a key it already holds). */
export function isBusyKey(err: unknown): boolean {
  return err instanceof Error && /BUSYKEY/.test(err.message)
}

/**
 * assignSlot ends a migration: `SETSLOT slot NODE owner` on the new owner first (it takes the
 * slot and bumps its epoch), then on the old owner (which refuses while it still holds keys
 * of the slot: the caller empties it first), then on every other master, best effort (gossip
 * spreads the new owner to any that miss it). Returns the masters that refused or did not answer.
 */
export async function assignSlot(owner: MasterConn, previous: MasterConn, others: readonly MasterConn[], slot: number, beforeSend?: BeforeSend): Promise<string[]> {
  beforeSend?.(`SETSLOT ${slot} NODE on ${owner.node}`)
  await clusterCommand(owner.conn, 'SETSLOT', slot, 'NODE', owner.redisId)
  beforeSend?.(`SETSLOT ${slot} NODE on ${previous.node}`)
  await clusterCommand(previous.conn, 'SETSLOT', slot, 'NODE', owner.redisId)
  const missed: string[] = []
  for (const o of others) {
    // Outside the try: a refusal to send stops the run, it is not a master that missed the command.
    beforeSend?.(`SETSLOT ${slot} NODE on ${o.node}`)
    try {
      await clusterCommand(o.conn, 'SETSLOT', slot, 'NODE', owner.redisId)
    } catch {
      missed.push(o.node)
    }
  }
  return missed
}

/**
 * keepMaster sets `cluster-allow-replica-migration no` on `m`, called before its last slot
 * leaves: Redis 7.0 otherwise turns a master that loses its last slot into a replica of the
 * slot's new owner, and a drained master must stay a master with no slots (the operator
 * decides whether to remove it). Returns false when the server refused CONFIG SET (renamed
 * or denied by ACL: the master may then turn into a replica).
 */
export async function keepMaster(m: MasterConn, beforeSend?: BeforeSend): Promise<boolean> {
  beforeSend?.(`CONFIG SET cluster-allow-replica-migration no on ${m.node}`)
  try {
    await m.conn.call('CONFIG', 'SET', 'cluster-allow-replica-migration', 'no')
    return true
  } catch {
    return false
  }
}

/** keySizes returns MEMORY USAGE of each key (0 for a key gone since it was listed). */
export async function keySizes(m: MasterConn, keys: readonly string[]): Promise<number[]> {
  if (keys.length === 0) return []
  const p = m.conn.pipeline()
  for (const k of keys) p.call('MEMORY', 'USAGE', k)
  return ((await p.exec()) ?? []).map(([err, v]) => (err || v === null ? 0 : Number(v)))
}

/**
 * keysOnBothSides lists the keys of `slot` that `source` and `target` both hold, sorted
 * (CLUSTER GETKEYSINSLOT answers on either, whoever serves the slot).
 */
export async function keysOnBothSides(source: MasterConn, target: MasterConn, slot: number): Promise<string[]> {
  const onTarget = new Set(await keysInSlot(target, slot, (await countKeys(target, slot)) + 1000))
  const both = (await keysInSlot(source, slot, (await countKeys(source, slot)) + 1000)).filter((k) => onTarget.has(k)).sort()
  const live: string[] = []
  for (const k of both) if (await liveOnSource(source, k)) live.push(k)
  return live
}

/**
 * liveOnSource tells whether `key`, listed by GETKEYSINSLOT on `m`, is live there. A key that
 * expired but was not reclaimed yet is still listed, and MIGRATE skips it, so it is no copy to
 * refuse over (test/integration/redis/redisExpiredReplace.test.ts: a client wrote the key anew
 * on the target through ASK). PTTL -2, or ASK from a MIGRATING slot, means missing; any other
 * answer or error (MOVED: the slot is not served there) counts as live, the careful side.
 */
async function liveOnSource(m: MasterConn, key: string): Promise<boolean> {
  try {
    return Number(await m.conn.call('PTTL', key)) !== -2
  } catch (err) {
    return !/^ASK /.test(errorMessage(err))
  }
}

/** runId is `m`'s `run_id` (INFO server): a new one each time its redis-server process starts. */
export async function runId(m: MasterConn): Promise<string> {
  const info = String(await m.conn.call('INFO', 'server'))
  const id = /^run_id:(\w+)/m.exec(info)?.[1]
  if (!id) throw new UserError('PRECONDITION', `redis node ${m.address} did not report its run_id in INFO server`, 'check that it is a Redis or Valkey server')
  return id
}

/** uptimeSec is `m`'s uptime_in_seconds (INFO server): how long its redis-server process has run; undefined when it does not say. */
export async function uptimeSec(m: MasterConn): Promise<number | undefined> {
  const v = /^uptime_in_seconds:(\d+)/m.exec(String(await m.conn.call('INFO', 'server')))?.[1]
  return v === undefined ? undefined : Number(v)
}

/** persistenceOf reads how `m` persists its data (INFO persistence: appendonly, keys loaded at start; moveSideRestart.ts). */
export async function persistenceOf(m: MasterConn): Promise<Persistence> {
  return parsePersistence(String(await m.conn.call('INFO', 'persistence')))
}

/** keysInSlot is CLUSTER GETKEYSINSLOT slot count on `m`. */
export async function keysInSlot(m: MasterConn, slot: number, count: number): Promise<string[]> {
  return (await clusterCommand(m.conn, 'GETKEYSINSLOT', slot, count)) as string[]
}

/** stableSlot clears MIGRATING/IMPORTING marks of `slot` on `m` (CLUSTER SETSLOT slot STABLE); ownership is unchanged. */
export async function stableSlot(m: MasterConn, slot: number, beforeSend?: BeforeSend): Promise<void> {
  beforeSend?.(`SETSLOT ${slot} STABLE on ${m.node}`)
  await clusterCommand(m.conn, 'SETSLOT', slot, 'STABLE')
}

/**
 * connectMasters opens admin connections to every `{node, address}` and reads each one's full
 * Redis id (CLUSTER MYID), checking it still starts with the recorded short id: a master
 * replaced at the same address is refused (PRECONDITION) rather than driven blindly.
 * On failure, connections already opened are closed.
 */
export async function connectMasters(nodes: readonly {id: string; address: string}[], connect: (address: string) => Promise<Redis>): Promise<Map<string, MasterConn>> {
  const out = new Map<string, MasterConn>()
  try {
    for (const n of nodes) {
      const conn = await connect(n.address)
      out.set(n.id, {node: n.id, redisId: '', address: n.address, conn})
      const redisId = String(await clusterCommand(conn, 'MYID'))
      if (!redisId.startsWith(n.id)) throw new UserError('PRECONDITION', `redis node at ${n.address} has id ${redisId}, but shardctl recorded ${n.id} there`, 'the cluster changed outside shardctl: re-record it with `shardctl cluster init --engine redis --seed HOST:PORT --force`')
      out.get(n.id)!.redisId = redisId
    }
    return out
  } catch (err) {
    for (const m of out.values()) m.conn.disconnect()
    throw err
  }
}

/** countKeysMany is CLUSTER COUNTKEYSINSLOT on `m` for each of `slots`, in one pipeline; the counts come back in the same order. Throws the first error a count returned. */
export async function countKeysMany(m: MasterConn, slots: readonly number[]): Promise<number[]> {
  if (slots.length === 0) return []
  const p = m.conn.pipeline()
  for (const slot of slots) p.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))
  return pipelineReplies(await p.exec(), `COUNTKEYSINSLOT on ${m.node}`).map(Number)
}

/** ownView is what `m` says of itself in `CLUSTER NODES`: the slots it serves. */
export async function ownSlots(m: MasterConn): Promise<Set<number>> {
  return (await ownMarks(m)).slots
}

/** ownMarks is what `m` says of itself in `CLUSTER NODES`: the slots it serves and those it marks MIGRATING. */
export async function ownMarks(m: MasterConn): Promise<{slots: Set<number>; migrating: ReadonlySet<number>}> {
  const me = myself(await readClusterNodes(m.conn))
  if (!me) throw new UserError('PRECONDITION', `redis node ${m.address} did not report itself in CLUSTER NODES`, 'check that it runs in cluster mode')
  return {slots: new Set(me.slots), migrating: new Set(me.migrating.keys())}
}

/** ownView is what `m` says of itself in `CLUSTER NODES` (moveSideRestart.ts' OwnView): the slots it serves and those it marks MIGRATING or IMPORTING. */
export async function ownView(m: MasterConn): Promise<OwnView> {
  const me = myself(await readClusterNodes(m.conn))
  if (!me) throw new UserError('PRECONDITION', `redis node ${m.address} did not report itself in CLUSTER NODES`, 'check that it runs in cluster mode')
  return {slots: me.slots, marked: [...me.migrating.keys(), ...me.importing.keys()]}
}

/**
 * openSlots is openSlot for many slots in two pipelines: IMPORTING on `to` for every slot
 * first, then MIGRATING on `from`, so a client redirected by ASK for any of them finds the
 * target ready. Idempotent. Throws the first error either side returned (the slots are left
 * as far as they got; every step can be repeated).
 */
export async function openSlots(from: MasterConn, to: MasterConn, slots: readonly number[], beforeSend?: BeforeSend): Promise<void> {
  if (slots.length === 0) return
  const imp = to.conn.pipeline()
  for (const slot of slots) imp.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.redisId)
  beforeSend?.(`SETSLOT IMPORTING of ${slots.length} slot(s) on ${to.node}`)
  pipelineReplies(await imp.exec(), `SETSLOT IMPORTING on ${to.node}`)
  const mig = from.conn.pipeline()
  for (const slot of slots) mig.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.redisId)
  beforeSend?.(`SETSLOT MIGRATING of ${slots.length} slot(s) on ${from.node}`)
  pipelineReplies(await mig.exec(), `SETSLOT MIGRATING on ${from.node}`)
}

/**
 * assignSlots is assignSlot for many slots: `SETSLOT NODE owner` for every slot in one
 * pipeline on the new owner, then one on the old owner (throwing the first error of either:
 * the old owner refuses a slot it still holds keys of), then on every other master at once,
 * best effort. Returns the other masters that refused or did not answer.
 */
export async function assignSlots(owner: MasterConn, previous: MasterConn, others: readonly MasterConn[], slots: readonly number[], beforeSend?: BeforeSend): Promise<string[]> {
  const setNode = async (m: MasterConn): Promise<void> => {
    const p = m.conn.pipeline()
    for (const slot of slots) p.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', owner.redisId)
    pipelineReplies(await p.exec(), `SETSLOT NODE on ${m.node}`)
  }
  if (slots.length === 0) return []
  beforeSend?.(`SETSLOT NODE of ${slots.length} slot(s) on ${owner.node}`)
  await setNode(owner)
  beforeSend?.(`SETSLOT NODE of ${slots.length} slot(s) on ${previous.node}`)
  await setNode(previous)
  // Once, outside allSettled (which would swallow a refusal): the others' pipelines are all written in this tick.
  if (others.length > 0) beforeSend?.(`SETSLOT NODE of ${slots.length} slot(s) on ${others.map((o) => o.node).join(', ')}`)
  const results = await Promise.allSettled(others.map(setNode))
  return others.filter((_, i) => results[i]?.status === 'rejected').map((o) => o.node)
}

/** pipelineReplies returns a pipeline's replies, throwing the first error one returned (named by `what`). */
function pipelineReplies(replies: [Error | null, unknown][] | null, what: string): unknown[] {
  return (replies ?? []).map(([err, v]) => {
    if (err) throw new UserError('PRECONDITION', `${what}: ${err.message}`, '`apply --resume` retries; check the cluster with `redis-cli --cluster check`')
    return v
  })
}
