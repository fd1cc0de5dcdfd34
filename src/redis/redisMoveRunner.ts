import {listNodes} from '../cluster/clusterRepo.js'
import {UserError, isUserError} from '../errors/errors.js'
import {type ExecutorEnv} from '../executor/executorEnv.js'
import {commitMoveTransition, type FencedMove, getMove, LockLostError, readShard} from '../executor/moveStore.js'
import {type Shard} from '../model/shard.js'
import {reserveAll, TokenBucket} from '../throttle/tokenBucket.js'
import {isTerminal, type Move, type MovePhase, type MoveWarning, withWarnings} from '../model/move.js'
import {EPOCH_STEPS} from '../model/plan.js'
import {formatBytes} from '../model/units.js'
import {batchByteBudget, keysWithinBytes, migrateBatchKeys, tightestRate} from './migrateBatch.js'
import {formatMoveCursor, parseMoveCursor, type RedisMoveCursor} from './moveCursor.js'
import {connectRedisNode} from './redisConnection.js'
import {awaitEpochOrder, type EpochWaitOptions} from './epochOrderWait.js'
import {leaseGuards, type LeaseGuards} from './leaseGuards.js'
import {assignSlot, assignSlots, type BeforeSend, connectMasters, countKeys, countKeysMany, keepMaster, keySizes, keysInSlot, keysOnBothSides, type MasterConn, migrateKeys, openSlot, openSlots, ownMarks, ownSlots, ownView, persistenceOf, runId, uptimeSec, slotsNotOwned, slotsStaying, slotView, stableSlot} from './slotOps.js'
import {heldKey, sourceRestartedSince, staleCopiesRefusal, uncheckedHold} from './sourceRestart.js'
import {strayKeysRefusal} from './targetStrayKeys.js'
import {restartedSides, restartWarning, uncheckedWarning, unrecordedSides} from './moveSideRestart.js'
import {slotsOfRange} from './slotMap.js'
import {DEFAULT_BIG_KEY_BYTES} from './redisSampler.js'
import {staleAtStart} from './moveStartCheck.js'
import {readNodeView} from '../executor/clusterView.js'
import {readClusterViews} from './clusterViews.js'
import {bystanderDownText, downBystander, failoverHandOff, moveSideFailover} from './moveSideFailover.js'

/** RedisMoveOptions tune the redis engine's slot migration. */
export interface RedisMoveOptions {
  /** keysPerBatch is the most keys one MIGRATE carries. */
  keysPerBatch: number
  /** keysPerSec limits keys migrated per second per move (null: no key limit; bytes/s is the executor's live throttle). */
  keysPerSec: number | null
  /** bigKeyBytes: a move whose shard holds a key larger than this is refused before anything changes, unless allowBigKeys; one met later (written since) stops the move, `failed`, before its MIGRATE (going forward). */
  bigKeyBytes: number
  allowBigKeys: boolean
  /** migrateTimeoutMs is MIGRATE's own timeout (how long it may block both nodes). */
  migrateTimeoutMs: number
}

/** CURSOR_INTERVAL_MS: the cursor goes to etcd at least this often while slots without keys pass (and before every slot with keys). */
const CURSOR_INTERVAL_MS = 1000

/**
 * MAX_VERIFY_PASSES bounds how often one runner re-walks slots that the final check found off
 * the side they were moved to; beyond it the runner throws and the executor retries it later.
 */
const MAX_VERIFY_PASSES = 3

/**
 * EMPTY_SLOT_BATCH is the most slots without keys moved together: their IMPORTING, MIGRATING
 * and SETSLOT NODE go in one pipeline per master, and the key counts that pick them in one,
 * instead of a dozen round trips per slot (a drain of 5,461 mostly empty slots took minutes).
 */
const EMPTY_SLOT_BATCH = 256

/** DEFAULT_REDIS_MOVE_OPTIONS: 100-key batches, 8 MiB big-key limit, 5 s MIGRATE timeout. */
export const DEFAULT_REDIS_MOVE_OPTIONS: RedisMoveOptions = {keysPerBatch: 100, keysPerSec: null, bigKeyBytes: DEFAULT_BIG_KEY_BYTES, allowBigKeys: false, migrateTimeoutMs: 5000}

/**
 * runRedisMove drives one move of a redis-engine cluster: the shard's slots go one by one
 * from the source master to the target (IMPORTING on the target, MIGRATING on the source,
 * GETKEYSINSLOT + MIGRATE batches under the byte and key throttles, SETSLOT NODE on target,
 * source and every other master). The cursor (see RedisMoveCursorSchema) is written to etcd,
 * fenced on the executor lock, before any slot holding keys is opened (and at least once a
 * second in between), so it never passes a slot that is not closed: a successor executor
 * (`apply --resume`) restarts from it, re-assigns the slots it finds already moved (each step
 * is idempotent and reads Redis's own state), finishes the open one and carries on. Pause holds
 * between batches and during a batch's throttle wait (awaitThrottle); a key above the big-key
 * limit met going forward ends the move `failed` before its MIGRATE (failOnBigKey); a cancel seen
 * before a slot's first batch moved closes that slot back on the source (rollBackUntouchedSlot),
 * else finishes the open slot; either way it then returns the slots already moved and
 * ends `aborted`; a cancel asked before the first slot (the move still `pending`, or during
 * its big-key scan) ends it `aborted` at once: no slot opened, nothing sent that changes Redis.
 * The shard record changes owner (epoch + EPOCH_STEPS.move) only when every slot is on the target. Returns when the move is terminal or the executor stops; throws
 * LockLostError when fenced out, and whatever Redis throws for the caller to retry (bounded
 * by the executor, see judgeRunFailure) unless Redis failed the source or the target over:
 * then the move is recorded `failed` with the way out (handOffAfterFailover) and returned.
 */
export async function runRedisMove(env: ExecutorEnv, initial: FencedMove, opts: RedisMoveOptions): Promise<FencedMove> {
  try {
    return await driveRedisMove(env, initial, opts)
  } catch (err) {
    if (err instanceof LockLostError || env.stopped()) throw err
    // A key above the limit written since the scan: every retry would stop at it again; the operator decides.
    if (err instanceof BigKeyMidMove) return await failOnBigKey(env, initial.value.id, err)
    // A side Redis failed over never comes back as the master the records name: hand over instead of retrying.
    const handed = await handOffAfterFailover(env, initial.value.id).catch(() => undefined)
    if (handed) return handed
    // A master the move does not name, down, stops every run at its connect: say which and the way out.
    const bystander = isUserError(err, 'NODE_UNREACHABLE') ? await bystanderError(env, initial.value.id, err).catch(() => undefined) : undefined
    throw bystander ?? err
  }
}

/**
 * BigKeyMidMove is thrown by migrateSlotKeys, going forward without --allow-big-keys, when a
 * batch it listed holds a key above the big-key limit: a key written after the move's scan
 * (which looks before the first slot only), or in a move resumed without that scan. Nothing of
 * that batch was migrated; the slot stays open (it serves through ASK).
 */
class BigKeyMidMove extends Error {
  constructor(
    readonly slot: number,
    readonly key: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`slot ${slot} holds key "${key}" of ${formatBytes(bytes)}, above the ${formatBytes(limit)} limit`)
  }
}

/**
 * failOnBigKey records move `id` failed (fenced) for `big`, with the way out: the executor's
 * retries would stop at the same key. `apply --resume --allow-big-keys` takes it up again
 * (failedMoveResume.ts) and moves the key; so does `apply --resume` once the key is smaller.
 */
async function failOnBigKey(env: ExecutorEnv, id: string, big: BigKeyMidMove): Promise<FencedMove> {
  const m = await getMove(env.ctx, id)
  const reason = `${big.message}, written since the move began (MIGRATE would block both masters while it copies it): the move stopped before migrating it, with slot ${big.slot} open (it serves through ASK); \`shardctl apply --resume --allow-big-keys\` moves it anyway, or shrink or delete the key, then \`shardctl apply --resume\``
  const failed = await commitMoveTransition(env.ctx, env.fence, m, {phase: 'failed', reason})
  emitPhase(env, failed.value)
  return failed
}

/**
 * bystanderError reads the recorded masters' views when a run failed to reach a master and,
 * when a master other than the move's sides is down (downBystander), returns the
 * NODE_UNREACHABLE error naming it and the way out, for the executor to retry (a restart
 * brings it back) and, once it gives up, to record. Undefined otherwise: the error stands.
 */
async function bystanderError(env: ExecutorEnv, id: string, err: UserError): Promise<UserError | undefined> {
  const m = await getMove(env.ctx, id)
  const nodes = (await listNodes(env.ctx)).map((n) => n.value)
  const source = nodes.find((n) => n.id === m.value.from)
  const target = nodes.find((n) => n.id === m.value.to)
  if (!source || !target) return undefined
  const {views} = await readClusterViews(nodes.map((n) => n.address))
  const down = downBystander({source: {node: source.id, address: source.address}, target: {node: target.id, address: target.address}, others: nodes.map((n) => ({node: n.id, address: n.address})), views})
  return down ? new UserError('NODE_UNREACHABLE', bystanderDownText(down), `restart redis-server at ${down.address}`, {cause: err}) : undefined
}

/**
 * handOffAfterFailover runs after the runner failed: it reads the `CLUSTER NODES` view of every
 * recorded master (and the masters those name, each bounded) and asks moveSideFailover whether
 * Redis failed the source or the target over. If so, the move is recorded `failed` (fenced) with
 * a one-line reason naming the side, the master that took its place, the slot that may be open
 * and the way out through a live master (`redis fix --seed <it> --yes`, then `cluster init
 * --force`), and returned: nothing more is changed, so no key moves after the failover but by
 * `redis fix`, which finishes the slot towards the side holding its keys. Returns undefined
 * when no side was failed over (down, or something else went wrong): the executor retries.
 */
async function handOffAfterFailover(env: ExecutorEnv, id: string): Promise<FencedMove | undefined> {
  const m = await getMove(env.ctx, id)
  if (isTerminal(m.value.phase)) return undefined
  const shard = await readShard(env.ctx, m.value.shard)
  if (!shard) return undefined
  const {first, end} = slotsOfRange(shard.value.range)
  const cur = parseMoveCursor(m.value.progress.cursor)
  const next = Math.min(Math.max(cur?.next ?? first, first), end)
  const nodes = (await listNodes(env.ctx)).map((n) => n.value)
  const source = nodes.find((n) => n.id === m.value.from)
  const target = nodes.find((n) => n.id === m.value.to)
  if (!source || !target) return undefined
  const {views} = await readClusterViews(nodes.map((n) => n.address))
  const slots = (a: number, b: number) => Array.from({length: Math.max(0, b - a)}, (_, i) => a + i)
  const verdict = moveSideFailover({source: {node: source.id, address: source.address}, target: {node: target.id, address: target.address}, sourceSlots: slots(next, end), targetSlots: slots(first, next), views})
  if (verdict.kind !== 'failed-over') return undefined
  const reason = failoverHandOff(verdict, cur?.open ? cur.next : null)
  const failed = await commitMoveTransition(env.ctx, env.fence, m, {phase: 'failed', reason})
  emitPhase(env, failed.value)
  return failed
}

/** driveRedisMove is runRedisMove without the failover hand-off: it throws whatever stops it. */
async function driveRedisMove(env: ExecutorEnv, initial: FencedMove, opts: RedisMoveOptions): Promise<FencedMove> {
  let m = initial
  const save = async (patch: Partial<Move>, shard?: Parameters<typeof commitMoveTransition>[4]): Promise<FencedMove> => {
    try {
      return (m = await commitMoveTransition(env.ctx, env.fence, m, patch, shard))
    } catch (err) {
      if (!isUserError(err, 'CONFLICT') || shard) throw err
      // A `moves cancel` wrote the record meanwhile: keep its flag, write our patch again.
      m = await getMove(env.ctx, m.value.id)
      return (m = await commitMoveTransition(env.ctx, env.fence, m, patch))
    }
  }
  const cancelBeforeStart = async (): Promise<FencedMove> => {
    const ended = await save({phase: 'aborted', reason: CANCELLED_BEFORE_START})
    emitPhase(env, ended.value)
    return ended
  }
  if (notStarted(m.value.phase)) {
    // Read fresh: the executor's copy of the record predates a `moves cancel` written since it
    // listed the moves, and the copying loop looks only between slots (after one was opened).
    m = await getMove(env.ctx, m.value.id)
    if (m.value.cancelRequested && notStarted(m.value.phase)) return cancelBeforeStart()
  }
  const shardRec = await readShard(env.ctx, m.value.shard)
  // Not begun: the shard and the destination are checked now, when the move's turn comes, not
  // only by apply's preflight when apply started (a master cordoned or drained since must not
  // receive slots; moveStartCheck.ts).
  const staleNow = async (shard?: Shard): Promise<string | undefined> => {
    const [view, current] = await Promise.all([readNodeView(env.ctx), shard ? {value: shard} : readShard(env.ctx, m.value.shard)])
    return staleAtStart(m.value, current?.value, view.registered, view.states)
  }
  if (notStarted(m.value.phase)) {
    // The shard as just read (a record absent: no shard to reuse, read again).
    const stale = await staleNow(shardRec?.value)
    if (stale) return save({phase: 'skipped', reason: stale})
  }
  if (!shardRec) throw new UserError('NOT_FOUND', `shard ${m.value.shard} of move ${m.value.id} does not exist`)
  const {first, end} = slotsOfRange(shardRec.value.range)
  const nodes = (await listNodes(env.ctx)).map((n) => n.value)
  const masters = await connectMasters(nodes, connectRedisNode).catch((err: unknown) => {
    // The retry line is all an operator watching apply sees: name the way out of a failover there.
    if (isUserError(err, 'NODE_UNREACHABLE')) throw new UserError('NODE_UNREACHABLE', `${err.message}; if Redis failed that master over, ${FAILOVER_WAY_OUT}`, err.hint, {cause: err})
    throw err
  })
  const keyBucket = new TokenBucket(opts.keysPerSec, env.now)
  try {
    const from = masters.get(m.value.from)
    const to = masters.get(m.value.to)
    if (!from || !to) throw new UserError('NOT_FOUND', `move ${m.value.id} names a node that is not recorded (${m.value.from} -> ${m.value.to})`)
    for (const side of [from, to]) await requireMaster(side)
    const others = [...masters.values()].filter((x) => x !== from && x !== to)
    // Each cursor written names the run_id of the side the slots leave; a resume that finds
    // another one there knows that master restarted since, maybe from an older snapshot (sourceRestart.ts).
    const runs = new Map([[from, await runId(from)], [to, await runId(to)]])
    const recorded = parseMoveCursor(m.value.progress.cursor)
    // A record of an older build lacks a side's run_id: that side is judged by its uptime (unrecordedSides), once, here.
    const unrecorded = recorded === undefined ? undefined : await judgeUnrecorded(env, m.value, recorded, from, to, runs)
    const leaving = recorded?.dir === 'fwd' ? from : to
    // The side the slots leave restarted since: by its recorded run_id, or, in a record without one, by its uptime
    // (recorded as '' in the cursors while pending: a run that stops before the check leaves the next one the same check).
    // Neither told nor ruled out by its uptime (`unchecked`): keys on both sides of the slot left open are held, not replaced (uncheckedHold).
    const restarted: StaleCheck | undefined =
      recorded === undefined
        ? undefined
        : sourceRestartedSince(recorded.srcRun, runs.get(leaving)!) || unrecorded!.restarted.some((x) => x.node === leaving.node)
          ? {kind: 'restarted', move: m.value.id, dir: recorded.dir, srcRun: recorded.srcRun ?? '', pending: true}
          : unrecorded!.unchecked.some((x) => x.node === leaving.node)
            ? {kind: 'unchecked', move: m.value.id, dir: recorded.dir, srcRun: undefined, pending: true, acknowledged: (key) => (m.value.warnings ?? []).some((w) => w.key === key && w.acknowledgedAt !== undefined), hold: (w) => recordWarnings(env, m.value.id, [w], save)}
            : undefined
    // The recorded run_id (none, for `unchecked`) is kept in the cursors this run writes until the slot left open was checked: a run that stops before would hide the restart (or the unjudged window) from the next.
    const leavingRun = (dir: 'fwd' | 'back'): string | undefined => (restarted?.pending && restarted.dir === dir ? restarted.srcRun : runs.get(dir === 'fwd' ? from : to)!)
    // The run_ids every cursor written records: of the side the slots leave and of the side they go to.
    const runsOf = (dir: 'fwd' | 'back') => ({srcRun: leavingRun(dir), dstRun: runs.get(dir === 'fwd' ? to : from)!})
    // A side restarted since the cursor was written lost what it had not persisted: recorded on
    // the move, before any cursor names its new run_id, and told (moveSideRestart.ts).
    if (recorded !== undefined) await noteRestarts(env, m.value, recorded, from, to, runs, unrecorded!, first, end, save)
    // A record of an older build lacks a run_id: recorded at once, not at the run's first cursor
    // write, so a restart from now on is told even if this run stops before writing one.
    if (recorded !== undefined && (recorded.srcRun === undefined || recorded.dstRun === undefined)) await save({progress: {...m.value.progress, cursor: formatMoveCursor({...recorded, ...runsOf(recorded.dir)})}})
    if (notStarted(m.value.phase)) {
      const big = opts.allowBigKeys ? undefined : await findBigKey(from, first, end, opts.bigKeyBytes)
      if (big) return await save({phase: 'aborted', reason: `slot ${big.slot} holds key "${big.key}" of ${formatBytes(big.bytes)}, above the ${formatBytes(opts.bigKeyBytes)} limit (MIGRATE would block both masters): nothing was moved; pass --allow-big-keys to move it anyway`})
      // Once more after the scan (seconds on a big shard): the last look before the first slot opens.
      const stale = await staleNow()
      if (stale) return await save({phase: 'skipped', reason: stale})
      const start = (): Promise<FencedMove> => commitMoveTransition(env.ctx, env.fence, m, {phase: 'copying', reason: null, copyStartedAt: env.now(), progress: {...m.value.progress, cursor: formatMoveCursor({dir: 'fwd', next: first, open: false, ...runsOf('fwd')})}})
      // Not `save`, which writes its patch again over a concurrent write: the commit compares the
      // record read before the big-key scan (which takes seconds on a big shard), so a cancel
      // written meanwhile fails it and is honoured here, before the first slot is opened.
      try {
        m = await start()
      } catch (err) {
        if (!isUserError(err, 'CONFLICT')) throw err
        m = await getMove(env.ctx, m.value.id)
        if (m.value.cancelRequested) return await cancelBeforeStart()
        m = await start() // written by something else: once more; another conflict throws and the executor retries the run
      }
      emitPhase(env, m.value)
    }
    const progress = {bytes: m.value.progress.bytes, keys: m.value.progress.keys}
    const started = env.now()
    let lastRecorded = env.now()
    // Its own clock, not lastRecorded: the cursor is recorded before every slot holding keys, so
    // a move whose slots each take under a second never came to a check and ignored a cancel.
    // Not before the first slot of a run: a resumed run's first slot may be open, and is finished first.
    let lastCancelCheck = env.now()
    let verifyPasses = 0
    // A cancel seen inside a slot's first throttle wait (at most one etcd read a second, as between slots).
    const cancelLook: CancelLook = async (now) => {
      if (!now && env.now() - lastCancelCheck < CURSOR_INTERVAL_MS) return false
      lastCancelCheck = env.now()
      return (await getMove(env.ctx, m.value.id)).value.cancelRequested
    }
    const onBatch = (keys: number, bytes: number): void => {
      progress.keys += keys
      progress.bytes += bytes
      const secs = Math.max(0.001, (env.now() - started) / 1000)
      // The same key sizes are counted, shown and throttled here (keySizes): one rate serves both.
      const rate = progress.bytes / secs
      env.emit({type: 'progress', move: m.value.id, bytes: progress.bytes, keys: progress.keys, totalBytes: m.value.progress.totalBytes, rateBytesPerSec: rate, dataRateBytesPerSec: rate, stalled: false, at: new Date(env.now()).toISOString()})
    }
    while ((m.value.phase === 'copying' || m.value.phase === 'aborting') && !env.stopped()) {
      const cur = parseMoveCursor(m.value.progress.cursor) ?? {dir: 'fwd' as const, next: first, open: false}
      const forward = m.value.phase === 'copying'
      // Before the record changes (or keeps) the owner, the side the slots went to must serve every
      // one of them by its own view, the view `plan` checks records against. A slot closed earlier
      // can be off it again (bench:redis at 100k keys under load saw one; something outside this
      // runner, or Redis gossip, took it back), and recording the move anyway leaves etcd and
      // Redis disagreeing until `init --force`. Such slots are walked again.
      const landed = forward && cur.next >= end ? to : !forward && cur.next < first ? from : undefined
      if (landed) {
        const stray = await slotsNotOwned(landed, first, end)
        if (stray.length > 0) {
          if (++verifyPasses > MAX_VERIFY_PASSES) throw new UserError('PRECONDITION', `move ${m.value.id}: ${stray.length} slot(s) of shard ${m.value.shard} (first ${stray[0]}) keep leaving ${landed.node} after being moved there`, 'check the cluster with `redis-cli --cluster check`; `apply --resume` retries')
          const next = forward ? (stray[0] ?? first) : (stray[stray.length - 1] ?? end - 1)
          env.emit({type: 'info', message: `move ${m.value.id}: slot(s) ${stray.slice(0, 5).join(', ')}${stray.length > 5 ? ', …' : ''} of shard ${m.value.shard} are not on ${landed.node} after the pass: moving them again`, at: new Date(env.now()).toISOString()})
          await save({progress: {...m.value.progress, bytes: progress.bytes, keys: progress.keys, cursor: formatMoveCursor({dir: cur.dir, next, open: true, ...runsOf(cur.dir)})}})
          lastRecorded = env.now()
          continue
        }
      }
      if (forward && cur.next >= end) {
        const fresh = (await readShard(env.ctx, m.value.shard))!
        const epoch = fresh.value.epoch + EPOCH_STEPS.move
        await save({phase: 'done', epoch, reason: null, cutoverAt: new Date(env.now()).toISOString(), progress: {...m.value.progress, bytes: progress.bytes, keys: progress.keys}}, {value: {...fresh.value, epoch, replicas: [{node: to.node, role: 'voter'}]}, expected: fresh.modRevision, before: fresh.value})
        emitPhase(env, m.value)
        break
      }
      if (!forward && cur.next < first) {
        await save({phase: 'aborted', progress: {...m.value.progress, bytes: progress.bytes, keys: progress.keys}})
        emitPhase(env, m.value)
        break
      }
      // Cancel is checked about once a second, between slots; the cursor is written at most once a second, and before every slot that holds keys.
      const due = env.now() - lastRecorded >= CURSOR_INTERVAL_MS
      const cancelDue = forward && env.now() - lastCancelCheck >= CURSOR_INTERVAL_MS
      if (cancelDue) lastCancelCheck = env.now()
      if (cancelDue && (await getMove(env.ctx, m.value.id)).value.cancelRequested) {
        m = await getMove(env.ctx, m.value.id)
        await save({phase: 'aborting', reason: 'cancelled by operator', progress: {...m.value.progress, bytes: progress.bytes, keys: progress.keys, cursor: formatMoveCursor({dir: 'back', next: cur.next - 1, open: true, ...runsOf('back')})}})
        emitPhase(env, m.value)
        continue
      }
      const [src, dst] = forward ? [from, to] : [to, from]
      // Going back (a cancel), every key returns, big or not: refusing one would leave the shard split.
      const slotOpts = forward ? opts : {...opts, allowBigKeys: true}
      const empty = await emptySlotsFrom(src, cur.next, forward ? end : first - 1)
      if (empty.length > 1) {
        // Record first: the cursor at the run's first slot, so a resume walks every slot the run may leave open.
        await save({progress: {...m.value.progress, bytes: progress.bytes, keys: progress.keys, cursor: formatMoveCursor({...cur, open: true, ...runsOf(cur.dir)})}})
        lastRecorded = env.now()
        if (!(await migrateEmptySlots(env, slotOpts, keyBucket, src, dst, others, empty, onBatch, m.value.id))) break
        const last = empty[empty.length - 1] ?? cur.next
        m = {...m, value: {...m.value, progress: {...m.value.progress, cursor: formatMoveCursor({dir: cur.dir, next: forward ? last + 1 : last - 1, open: true})}}}
        continue
      }
      if (due || (await countKeys(src, cur.next)) > 0) {
        await save({progress: {...m.value.progress, bytes: progress.bytes, keys: progress.keys, cursor: formatMoveCursor({...cur, open: true, ...runsOf(cur.dir)})}})
        lastRecorded = env.now()
      }
      const closed = await migrateSlot(env, slotOpts, keyBucket, src, dst, others, cur.next, onBatch, m.value.id, restarted?.pending && restarted.dir === cur.dir ? restarted : undefined, forward ? cancelLook : undefined)
      if (closed === 'stopped') break // stopped mid-slot: the cursor is at or before it; a resume finishes it
      if (closed === 'rolled-back') {
        // Cancelled before any key of the slot moved, and the slot closed back on the source: return the slots before it.
        lastCancelCheck = env.now()
        m = await getMove(env.ctx, m.value.id)
        await save({phase: 'aborting', reason: 'cancelled by operator', progress: {...m.value.progress, bytes: progress.bytes, keys: progress.keys, cursor: formatMoveCursor({dir: 'back', next: cur.next - 1, open: true, ...runsOf('back')})}})
        emitPhase(env, m.value)
        continue
      }
      // Held in memory: the next slot's record (or the final one) moves the cursor on in etcd.
      m = {...m, value: {...m.value, progress: {...m.value.progress, cursor: formatMoveCursor({dir: cur.dir, next: forward ? cur.next + 1 : cur.next - 1, open: true})}}}
    }
    return m
  } finally {
    for (const x of masters.values()) x.conn.disconnect()
  }
}

/**
 * migrateSlot moves one slot from `src` to `dst` and assigns it to `dst` everywhere; each
 * step is idempotent, so it also finishes a slot a killed executor left open (or one already
 * assigned to `dst` on some masters). Returns false when the executor stopped with the slot
 * still open. Throws PRECONDITION when neither side owns the slot (changed outside shardctl),
 * and, with `restarted` pending (the source restarted since the cursor was written), when the
 * slot, found open, has keys on both sides (staleCopiesRefusal), before migrating any; found
 * open without, or not open on the source at all (nothing of it migrated before), it marks the
 * check done.
 */
async function migrateSlot(env: ExecutorEnv, opts: RedisMoveOptions, keyBucket: TokenBucket, src: MasterConn, dst: MasterConn, others: readonly MasterConn[], slot: number, onBatch: (keys: number, bytes: number) => void, moveId: string, restarted?: StaleCheck, cancelled?: CancelLook): Promise<'closed' | 'stopped' | 'rolled-back'> {
  const guard = sendGuard(env)
  const dstView = await slotView(dst, slot)
  if (!dstView.owns) {
    const srcView = await slotView(src, slot)
    if (!srcView.owns) throw new UserError('PRECONDITION', `slot ${slot} is owned by neither ${src.node} nor ${dst.node}`, 'the cluster changed outside shardctl: check it with `redis-cli --cluster check`')
    // Keys on the target before the source marks the slot MIGRATING are not this move's (targetStrayKeys.ts).
    if (srcView.migratingTo === null) {
      const stray = strayKeysRefusal({move: moveId, slot, source: src, target: dst, targetKeys: await countKeys(dst, slot), sourceMigrating: false})
      if (stray) throw stray
    }
    // The source restarted since the cursor was written: a key both hold may be a snapshot's old copy of one migrated before.
    if (restarted?.kind === 'restarted' && srcView.migratingTo !== null) {
      const refusal = staleCopiesRefusal({move: restarted.move, slot, source: src, target: dst, both: await keysOnBothSides(src, dst, slot)})
      if (refusal) throw refusal
      restarted.pending = false
    }
    // Whether it restarted cannot be told: a key both hold is held, neither copy migrated over the other, until the operator decides (uncheckedHold).
    if (restarted?.kind === 'unchecked' && srcView.migratingTo !== null) {
      const verdict = uncheckedHold({move: restarted.move, slot, source: src, target: dst, both: await keysOnBothSides(src, dst, slot), acknowledged: restarted.acknowledged(heldKey(src.node, slot)), at: new Date(env.now()).toISOString()})
      if (verdict.kind === 'hold') {
        await restarted.hold(verdict.warning)
        throw verdict.error
      }
      restarted.pending = false
    }
    // Not open on the source (and, past the stray check above, none of its keys on the target): nothing of it migrated
    // before this run, so no copy of it is stale and nothing to hold; the check is done for a source restarted too. Until
    // session 42 a `restarted` one stayed pending: every cursor this run wrote kept the old run_id, so each later resume
    // took the source for restarted again and checked a slot this very run had opened after the restart.
    if (restarted !== undefined && srcView.migratingTo === null) restarted.pending = false
    await openSlot(src, dst, slot, guard)
    // Counted after opening, and with the slots other moves are taking (MIGRATING) as gone: two
    // moves out of one master (a drain) each saw the other's last slot still there and neither
    // kept it a master. Whichever opens its last slot second sees both marks.
    if ((await slotsStaying(src)) === 0) {
      const kept = await keepMaster(src, guard)
      env.emit({type: 'info', message: kept ? `slot ${slot} is the last slot of ${src.node}: set cluster-allow-replica-migration no there, so it stays a master with no slots` : `slot ${slot} is the last slot of ${src.node}, which refused CONFIG SET cluster-allow-replica-migration no: Redis may turn it into a replica`, at: new Date(env.now()).toISOString()})
    }
    let keys = await migrateSlotKeys(env, opts, keyBucket, src, dst, slot, onBatch, cancelled)
    if (keys === 'cancelled') {
      if (await rollBackUntouchedSlot(src, dst, slot, guard)) return 'rolled-back'
      keys = await migrateSlotKeys(env, opts, keyBucket, src, dst, slot, onBatch)
    }
    if (keys === 'stopped') return 'stopped'
  }
  if (!(await awaitEpochOrder(src, dst, slot, runnerEpochWait(env)))) return 'stopped'
  const missed = await assignSlot(dst, src, others, slot, guard)
  if (missed.length > 0) env.emit({type: 'info', message: `slot ${slot}: ${missed.join(', ')} did not take SETSLOT NODE; gossip will tell them`, at: new Date(env.now()).toISOString()})
  return 'closed'
}

/**
 * rollBackUntouchedSlot closes open `slot` back onto `src` when `dst` holds none of its keys
 * (no batch migrated yet: a cancel seen during the first batch's throttle wait, a big key's
 * minute at a low rate): the target's IMPORTING mark is cleared first, so no client creates a
 * key there through ASK any more, its keys are counted again, and only with none the source's
 * MIGRATING mark is cleared (as `redis fix` rolls back). Returns false, the slot open again,
 * when the target holds keys of it: those can only be finished forward (Redis has no way to
 * give a slot's migrated keys back while the source still owns it).
 */
async function rollBackUntouchedSlot(src: MasterConn, dst: MasterConn, slot: number, guard: BeforeSend): Promise<boolean> {
  if ((await countKeys(dst, slot)) > 0) return false
  await stableSlot(dst, slot, guard)
  if ((await countKeys(dst, slot)) === 0) {
    await stableSlot(src, slot, guard)
    return true
  }
  await openSlot(src, dst, slot, guard)
  return false
}

/**
 * judgeUnrecorded judges, by uptime against the copy's start (unrecordedSides), the sides whose
 * run_id `recorded` lacks (a record of an older build); reads INFO server only then, nothing to
 * judge otherwise.
 */
async function judgeUnrecorded(env: ExecutorEnv, m: Move, recorded: RedisMoveCursor, from: MasterConn, to: MasterConn, runs: ReadonlyMap<MasterConn, string>): Promise<ReturnType<typeof unrecordedSides>> {
  if (recorded.srcRun !== undefined && recorded.dstRun !== undefined) return {restarted: [], unchecked: []}
  const side = async (x: MasterConn, role: 'source' | 'target') => ({node: x.node, address: x.address, role, run: runs.get(x)!, uptimeSec: await uptimeSec(x)})
  return unrecordedSides(recorded, await side(from, 'source'), await side(to, 'target'), {copyStartedAt: m.copyStartedAt, now: env.now()})
}

/**
 * noteRestarts compares the run_ids `recorded` (the cursor as the run found it) names with the
 * ones the move's masters report now (`runs`), and for each side restarted since records a
 * warning on the move (restartWarning: fenced, through `save`; one a restart, however many
 * runs find it) and emits it. Reads INFO persistence and CLUSTER NODES (the slots it held:
 * slotsAtRisk) of a restarted side only. A side whose run_id the cursor lacks (a record of an
 * older build) was judged by its uptime against the copy's start (`unrecorded`, judgeUnrecorded):
 * restarted since, the same warning; not knowable, a warning that the window went unchecked.
 */
async function noteRestarts(env: ExecutorEnv, m: Move, recorded: RedisMoveCursor, from: MasterConn, to: MasterConn, runs: ReadonlyMap<MasterConn, string>, unrecorded: ReturnType<typeof unrecordedSides>, first: number, end: number, save: (patch: Partial<Move>) => Promise<FencedMove>): Promise<void> {
  const id = m.id
  const side = (x: MasterConn, role: 'source' | 'target') => ({node: x.node, address: x.address, role, run: runs.get(x)!})
  const [source, target] = [side(from, 'source'), side(to, 'target')]
  const sides = [...restartedSides(recorded, source, target), ...unrecorded.restarted]
  if (sides.length === 0 && unrecorded.unchecked.length === 0) return
  const at = new Date(env.now()).toISOString()
  const warnings = []
  for (const s of sides) {
    const conn = s.role === 'source' ? from : to
    // Its own view after the restart names the slots it held when it went down; unreadable, the cursor's.
    const view = await ownView(conn).catch(() => null)
    warnings.push(restartWarning({move: id, side: s, persistence: await persistenceOf(conn), cursor: recorded, first, end, view, other: s.role === 'source' ? to : from, at}))
  }
  for (const s of unrecorded.unchecked) warnings.push(uncheckedWarning({move: id, side: s, at}))
  await recordWarnings(env, id, warnings, save)
}

/** recordWarnings adds to move `id` (fenced, through `save`) those of `warnings` whose key it does not hold yet, and emits each added. */
async function recordWarnings(env: ExecutorEnv, id: string, warnings: readonly MoveWarning[], save: (patch: Partial<Move>) => Promise<FencedMove>): Promise<void> {
  const current = (await getMove(env.ctx, id)).value.warnings
  const merged = withWarnings(current, warnings)
  if ((merged?.length ?? 0) === (current?.length ?? 0)) return
  await save({warnings: merged})
  for (const w of warnings.filter((w) => !(current ?? []).some((c) => c.key === w.key))) env.emit({type: 'info', message: `warning: ${w.text}`, at: w.at})
}

/**
 * StaleCheck is a run's note that the side its slots leave restarted since the cursor was
 * written (`restarted`, sourceRestart.ts staleCopiesRefusal), or that whether it did cannot be
 * told (`unchecked`: uncheckedHold): `pending` until the slot it left open is checked.
 */
type StaleCheck =
  | {
      kind: 'restarted'
      move: string
      dir: 'fwd' | 'back'
      /** srcRun is the run_id the cursor recorded ('' when its uptime told the restart). */
      srcRun: string
      pending: boolean
    }
  | {
      kind: 'unchecked'
      move: string
      dir: 'fwd' | 'back'
      /** srcRun: none recorded, and none written while pending, so the next run judges the window again. */
      srcRun: undefined
      pending: boolean
      /** acknowledged tells whether the move's warning of `key` was acknowledged (`moves ack`) when the run began. */
      acknowledged: (key: string) => boolean
      /** hold records the warning of a slot held (fenced). */
      hold: (w: MoveWarning) => Promise<void>
    }

/**
 * migrateSlotKeys moves every key of `slot`, open on both sides, from `src` to `dst` in
 * GETKEYSINSLOT + MIGRATE batches under the byte and key throttles, holding while paused or
 * outside the window. Returns false when the executor stopped first (the slot stays open).
 */
async function migrateSlotKeys(env: ExecutorEnv, opts: RedisMoveOptions, keyBucket: TokenBucket, src: MasterConn, dst: MasterConn, slot: number, onBatch: (keys: number, bytes: number) => void, cancelled?: CancelLook): Promise<'done' | 'stopped' | 'cancelled'> {
  const seen = {keys: 0, bytes: 0}
  for (;;) {
    while ((env.control.paused || !env.control.inWindow()) && !env.stopped()) await env.sleep(200)
    if (env.stopped()) return 'stopped'
    // Only before this run's first MIGRATE of the slot: after it, the slot can only be finished (see migrateSlot).
    const look = seen.keys === 0 ? cancelled : undefined
    if (look && (await look())) return 'cancelled'
    const keyRate = followKeyRate(env, opts, keyBucket)
    const buckets = [env.throttles.global, env.throttles.node(src.node), env.throttles.node(dst.node)]
    const byteRate = tightestRate(buckets.map((b) => b.currentRate()))
    const listed = await keysInSlot(src, slot, migrateBatchKeys(opts.keysPerBatch, byteRate, keyRate, seen.keys > 0 ? seen.bytes / seen.keys : null))
    if (listed.length === 0) return 'done'
    const listedSizes = await keySizes(src, listed)
    // The scan before the first slot does not see keys written since (nor does a resumed move scan): every batch is checked.
    const big = opts.allowBigKeys ? -1 : listedSizes.findIndex((b) => b > opts.bigKeyBytes)
    // A cancel recorded before the key stopped the move (or since) can still close the untouched
    // slot back, the key unmoved; looked up now, not at most once a second: a resumed run meets
    // the key within its first second, and failed at it again on every resume.
    if (big >= 0 && look && (await look(true))) return 'cancelled'
    if (big >= 0) throw new BigKeyMidMove(slot, listed[big]!, listedSizes[big]!, opts.bigKeyBytes)
    // Cut to the keys' measured sizes: the count above is a guess at the mean (none yet for the
    // slot's first batch); the keys left out are listed again next round.
    const take = keysWithinBytes(listedSizes, batchByteBudget(byteRate, opts.bigKeyBytes))
    const keys = listed.slice(0, take)
    const sizes = listedSizes.slice(0, take)
    const bytes = sizes.reduce((a, b) => a + b, 0)
    seen.keys += keys.length
    seen.bytes += bytes
    const wait = Math.max(reserveAll(buckets, bytes), keyBucket.take(keys.length))
    const waited = await awaitThrottle(env, opts, keyBucket, buckets, wait, look)
    if (waited !== 'go') return waited
    await migrateKeys(src, dst, keys, opts.migrateTimeoutMs, {within: runnerGuards(env).migrate})
    onBatch(keys.length, bytes)
  }
}

/** CancelLook tells whether a `moves cancel` is recorded for the move (it reads etcd at most about once a second, false in between; `now`: reads it regardless). */
type CancelLook = (now?: boolean) => Promise<boolean>

/** followKeyRate sets `keyBucket` to the operator's live keys/s (`throttle set --keys-per-sec`), which wins over the move's own option, and returns it. */
function followKeyRate(env: ExecutorEnv, opts: RedisMoveOptions, keyBucket: TokenBucket): number | null {
  const keyRate = env.control.keysPerSec ?? opts.keysPerSec
  if (keyRate !== keyBucket.currentRate()) keyBucket.setRate(keyRate)
  return keyRate
}

/** THROTTLE_WAIT_SLICE_MS: a batch's throttle wait looks at pause and the live rates this often. */
const THROTTLE_WAIT_SLICE_MS = 200

/**
 * awaitThrottle waits out a batch's reservation (`wait` ms, as reserved on `buckets` and
 * `keyBucket`) before its MIGRATE, in slices: a rate raised meanwhile (`throttle set`) ends it
 * as soon as the buckets' debt is paid at the new rate (never later than first reserved), and
 * `moves pause` (or leaving the window) holds the MIGRATE until resumed, however long the wait
 * was. Before, one sleep of the whole wait (a big key at a low rate: minutes) sent the MIGRATE
 * at its end whatever had changed. With `cancelled`, a cancel seen during the wait ends it
 * ('cancelled'); 'stopped' when the executor stopped first.
 */
async function awaitThrottle(env: ExecutorEnv, opts: RedisMoveOptions, keyBucket: TokenBucket, buckets: readonly TokenBucket[], wait: number, cancelled?: CancelLook): Promise<'go' | 'stopped' | 'cancelled'> {
  let until = env.now() + wait
  for (;;) {
    if (env.stopped()) return 'stopped'
    const held = env.control.paused || !env.control.inWindow()
    const left = until - env.now()
    if (!held && left <= 0) return 'go'
    if (cancelled && (await cancelled())) return 'cancelled'
    await env.sleep(held ? THROTTLE_WAIT_SLICE_MS : Math.min(left, THROTTLE_WAIT_SLICE_MS))
    followKeyRate(env, opts, keyBucket)
    // What the buckets still owe at their rates now: shorter after a raise; it counts later reservations too, hence the min.
    until = Math.min(until, env.now() + Math.max(reserveAll(buckets, 0), keyBucket.take(0)))
  }
}

/**
 * emptySlotsFrom returns the run of slots from `next` towards `stop` (exclusive; upwards when
 * stop > next, downwards otherwise), at most EMPTY_SLOT_BATCH, that hold no key on `src`,
 * counted in one pipeline. Empty when `next` itself holds keys.
 */
async function emptySlotsFrom(src: MasterConn, next: number, stop: number): Promise<number[]> {
  const step = stop > next ? 1 : -1
  const window: number[] = []
  for (let slot = next; slot !== stop && window.length < EMPTY_SLOT_BATCH; slot += step) window.push(slot)
  const counts = await countKeysMany(src, window)
  const firstWithKeys = counts.findIndex((c) => c > 0)
  return firstWithKeys < 0 ? window : window.slice(0, firstWithKeys)
}

/**
 * migrateEmptySlots moves `slots` (found empty on `src` a moment ago) to `dst` together:
 * one CLUSTER NODES read per side, IMPORTING then MIGRATING in one pipeline per side, a
 * recount (a key written before MIGRATING was set lands on `src`: such a slot gets its keys
 * migrated like any other), one config-epoch wait, and SETSLOT NODE in one pipeline per master.
 * Each step is idempotent, as in migrateSlot, so a resume from the run's first slot finishes
 * whatever a crash left. Returns false when the executor stopped with slots still open.
 * Throws PRECONDITION when neither side owns one of the slots.
 */
async function migrateEmptySlots(env: ExecutorEnv, opts: RedisMoveOptions, keyBucket: TokenBucket, src: MasterConn, dst: MasterConn, others: readonly MasterConn[], slots: readonly number[], onBatch: (keys: number, bytes: number) => void, moveId: string): Promise<boolean> {
  while ((env.control.paused || !env.control.inWindow()) && !env.stopped()) await env.sleep(200)
  if (env.stopped()) return false
  const [dstOwns, srcMarks] = await Promise.all([ownSlots(dst), ownMarks(src)])
  const toOpen = slots.filter((slot) => !dstOwns.has(slot))
  const orphan = toOpen.find((slot) => !srcMarks.slots.has(slot))
  if (orphan !== undefined) throw new UserError('PRECONDITION', `slot ${orphan} is owned by neither ${src.node} nor ${dst.node}`, 'the cluster changed outside shardctl: check it with `redis-cli --cluster check`')
  // Keys on the target of a slot its source is not migrating are not this move's (targetStrayKeys.ts): empty on the source, such a slot would be assigned with them.
  const dstCounts = await countKeysMany(dst, toOpen)
  for (const [i, slot] of toOpen.entries()) {
    const stray = strayKeysRefusal({move: moveId, slot, source: src, target: dst, targetKeys: dstCounts[i] ?? 0, sourceMigrating: srcMarks.migrating.has(slot)})
    if (stray) throw stray
  }
  const guard = sendGuard(env)
  await openSlots(src, dst, toOpen, guard)
  // After opening, other moves' MIGRATING slots counted as gone (see migrateSlot).
  if (toOpen.length > 0 && (await slotsStaying(src)) === 0) {
    const kept = await keepMaster(src, guard)
    env.emit({type: 'info', message: kept ? `slots ${toOpen[0]}…${toOpen[toOpen.length - 1]} are the last of ${src.node}: set cluster-allow-replica-migration no there, so it stays a master with no slots` : `slots ${toOpen[0]}…${toOpen[toOpen.length - 1]} are the last of ${src.node}, which refused CONFIG SET cluster-allow-replica-migration no: Redis may turn it into a replica`, at: new Date(env.now()).toISOString()})
  }
  const counts = await countKeysMany(src, toOpen)
  for (const [i, slot] of toOpen.entries()) {
    if ((counts[i] ?? 0) > 0 && (await migrateSlotKeys(env, opts, keyBucket, src, dst, slot, onBatch)) === 'stopped') return false
  }
  if (!(await awaitEpochOrder(src, dst, slots[0] ?? -1, runnerEpochWait(env)))) return false
  const missed = await assignSlots(dst, src, others, slots, guard)
  if (missed.length > 0) env.emit({type: 'info', message: `slots ${slots[0]}…${slots[slots.length - 1]}: ${missed.join(', ')} did not take SETSLOT NODE; gossip will tell them`, at: new Date(env.now()).toISOString()})
  return true
}

/**
 * sendGuard is the runner's BeforeSend: right before each command that changes the cluster it
 * reads the executor lock (env.lockState, no I/O) and, when lockGate refuses, throws
 * LockLostError with the one-line reason instead of sending. The stop signal alone is not
 * enough: an executor woken from a freeze past its lease runs the timers and replies that were
 * due (a throttle's sleep, a MIGRATE's answer) before the lease's own timer tells it, and sent
 * its next MIGRATE in between (test/e2e/redisFrozenExecutor.test.ts).
 */
function sendGuard(env: ExecutorEnv): BeforeSend {
  return runnerGuards(env).beforeSend
}

/**
 * runnerGuards are the runner's lease hooks (leaseGuards.ts): its MIGRATEs also get a timeout,
 * and an answer awaited, no longer than the lease left, so a batch cannot keep the source
 * busy past the lease while a successor takes the slot over
 * (test/integration/redis/redisMigrateLease.test.ts).
 */
function runnerGuards(env: ExecutorEnv): LeaseGuards {
  return leaseGuards(() => env.lockState?.(), (key, message) => new LockLostError(key, message))
}

/**
 * runnerEpochWait is how the runner waits for the config-epoch order (awaitEpochOrder): on the
 * executor's clock, ending with the slot open when the executor stops, and after the bound
 * throwing for the executor to retry the move later.
 */
function runnerEpochWait(env: ExecutorEnv): EpochWaitOptions {
  return {now: env.now, sleep: (ms) => env.sleep(ms), stopped: () => env.stopped(), wayOut: 'check the cluster bus between the two masters (`redis-cli --cluster check`); `apply --resume` retries'}
}

/**
 * requireMaster throws PRECONDITION when `m` answers as a replica: Redis failed it over (it
 * was stopped or cut off past cluster-node-timeout, and rejoined under the replica that took
 * its place, with the same id at the same address). Driving it would fail on every SETSLOT,
 * and the keys of the open slot are with the master that took over: `redis fix` closes it.
 */
async function requireMaster(m: MasterConn): Promise<void> {
  const role = ((await m.conn.call('ROLE')) as unknown[])[0]
  if (role !== 'master') throw new UserError('PRECONDITION', `redis node ${m.node} at ${m.address} is a ${String(role)} now: Redis failed it over; ${FAILOVER_WAY_OUT}`)
}

/** FAILOVER_WAY_OUT is what an operator runs after Redis failed over a master a move names. */
const FAILOVER_WAY_OUT = 'apply records the move failed, naming a live master to fix through, once the cluster shows the failover; the way out is then `shardctl redis fix --seed <live node> --yes` (it finishes slots left open towards the side holding their keys) and `shardctl cluster init --engine redis --seed <live node> --force`'

/** findBigKey scans every key of slots [first, end) on `m` and returns the first above `limit`. */
async function findBigKey(m: MasterConn, first: number, end: number, limit: number): Promise<{slot: number; key: string; bytes: number} | undefined> {
  const counts = await countKeysMany(m, Array.from({length: end - first}, (_, i) => first + i))
  for (let slot = first; slot < end; slot++) {
    const n = counts[slot - first] ?? 0
    if (n === 0) continue
    const keys = await keysInSlot(m, slot, n)
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500)
      const sizes = await keySizes(m, chunk)
      const at = sizes.findIndex((b) => b > limit)
      if (at >= 0) return {slot, key: chunk[at]!, bytes: sizes[at]!}
    }
  }
  return undefined
}

/** CANCELLED_BEFORE_START is the reason of a move cancelled before its first slot was opened: it ends `aborted` with Redis untouched. */
const CANCELLED_BEFORE_START = 'cancelled by operator before it started: nothing was moved'

/**
 * notStarted tells whether a move in `phase` has not opened a slot yet: `pending`, and
 * `checked` (a phase of the kv engine's move machine only; a redis move in it is treated as
 * pending rather than returned unchanged, which the executor would run again at once for ever).
 */
function notStarted(phase: MovePhase): boolean {
  return phase === 'pending' || phase === 'checked'
}

function emitPhase(env: ExecutorEnv, m: Move): void {
  env.emit({type: 'phase', move: m.id, shard: m.shard, from: m.from, to: m.to, phase: m.phase, reason: m.reason, at: new Date(env.now()).toISOString()})
}
