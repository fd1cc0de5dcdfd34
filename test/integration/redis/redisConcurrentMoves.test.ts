import {setTimeout as sleepFor} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {type ApplyResult, executePlan} from '../../../src/executor/executePlan.js'
import {type Move} from '../../../src/model/move.js'
import {type Shard} from '../../../src/model/shard.js'
import {slotsOfRange} from '../../../src/redis/slotMap.js'
import {openSlotMarks, redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {abortExecutorAfterEach, type RunningExecutor, useRedisCluster} from '../../support/redisTestFile.js'

/**
 * Issue 17: two slot moves that put one master on both sides at once (A -> B and B -> C), run
 * with room for both at once, under a client writing into every moving slot. Before the fix B
 * raised its config epoch as the target of A -> B while C, taking a slot of B -> C, had not
 * heard of it: C kept its lower epoch, B's gossip won the slot back and Redis deleted the
 * keys C had just received. Afterwards every acknowledged write must read back (its last
 * value, or a later one whose reply was lost) and, for all 16384 slots, the master etcd names
 * is the one master that serves the slot by its own view.
 */

const SLOTS_PER_SHARD = 32
const KEYS_PER_SLOT = 8
/** The writer stops after this many writes or this long, whichever comes first (and when the executor ends). */
const MAX_WRITES = 20_000
const MAX_WRITE_MS = 180_000
/** The executor is stopped after this long (the moves take seconds when nothing goes wrong), so a stuck move fails the test with its reasons, not a timeout. */
const APPLY_LIMIT_MS = 150_000

const available = await redisAvailable()
const file = useRedisCluster('redis-concurrent', available, {masters: 3, replicasPerMaster: 0, slotsPerShard: SLOTS_PER_SHARD})

let running: RunningExecutor | undefined

abortExecutorAfterEach(() => {
  const r = running
  running = undefined
  return r
})

function recordedMove(id: string, index: number, shard: Shard, to: string): Move {
  const at = new Date().toISOString()
  const from = shard.replicas[0]?.node ?? ''
  return {id, plan: 'chain', index, shard: shard.id, from, to, baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'pending', progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}
}

/** KeyLog is what the writer knows of one key: the last value acknowledged, and values sent after it whose reply failed (they may or may not have landed). */
interface KeyLog {
  acked: string | null
  unsure: Set<string>
}

/** writeUntil rewrites `keys` round-robin with rising values until `stop()` or the count/time bound; returns each key's log. */
async function writeUntil(keys: readonly string[], stop: () => boolean): Promise<{logs: Map<string, KeyLog>; writes: number; failed: number}> {
  const logs = new Map(keys.map((k) => [k, {acked: null, unsure: new Set<string>()} as KeyLog]))
  const deadline = Date.now() + MAX_WRITE_MS
  let writes = 0
  let failed = 0
  while (!stop() && writes < MAX_WRITES && Date.now() < deadline) {
    // 16 writes in flight, each to a different key: one key's writes stay in order.
    const batch = Array.from({length: 16}, (_, i) => keys[(writes + i) % keys.length] ?? '')
    await Promise.all(
      batch.map(async (k, i) => {
        const value = `${k}:${writes + i}`
        const log = logs.get(k)!
        try {
          await file.client.set(k, value)
          log.acked = value
          log.unsure.clear()
        } catch {
          log.unsure.add(value)
          failed++
        }
      }),
    )
    writes += batch.length
  }
  return {logs, writes, failed}
}

describe.skipIf(!available)('concurrent redis slot moves sharing a master', () => {
  it('A -> B and B -> C with room to run at once lose no acknowledged write, and etcd names the owner Redis serves for every slot', async () => {
    const {shards} = await listShards(file.ctx)
    const [a, b, c] = file.masters.map((m) => m.node)
    if (!a || !b || !c) throw new Error('the test needs three masters')
    const ofA = shards.find((s) => s.value.replicas[0]?.node === a)?.value
    const ofB = shards.find((s) => s.value.replicas[0]?.node === b)?.value
    if (!ofA || !ofB) throw new Error('no shard on the first or second master')
    // Keys in every slot of both shards, so every slot the targets take holds keys Redis could delete.
    const keys = [ofA, ofB].flatMap((s) => {
      const {first, end} = slotsOfRange(s.range)
      return tagsInSlots(first, end, end - first, `s${s.id}-`).flatMap(({tag}) => Array.from({length: KEYS_PER_SLOT}, (_, j) => `{${tag}}:${j}`))
    })
    const slotCount = [ofA, ofB].reduce((n, s) => n + slotsOfRange(s.range).end - slotsOfRange(s.range).first, 0)
    expect(slotCount).toBeGreaterThan(SLOTS_PER_SHARD)
    expect(keys).toHaveLength(slotCount * KEYS_PER_SLOT)
    for (const m of [recordedMove('chain-0', 0, ofA, b), recordedMove('chain-1', 1, ofB, c)]) {
      await file.ctx.store.put(file.ctx.keys.move(m.id), JSON.stringify(m))
    }

    let finished = false
    const abort = new AbortController()
    const limit = setTimeout(() => abort.abort(), APPLY_LIMIT_MS)
    const trouble: string[] = []
    const emit = (e: ExecutorEvent) => {
      if (e.type === 'retry' || (e.type === 'info' && /not on|did not take/.test(e.message))) trouble.push(e.type === 'retry' ? `${e.move}: ${e.error}` : e.message)
    }
    const result: Promise<ApplyResult> = executePlan(
      file.ctx,
      {limits: {maxConcurrent: 4, perNode: 4, incomingPerNode: 4}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test'},
      {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit},
      abort.signal,
    ).finally(() => {
      finished = true
      clearTimeout(limit)
    })
    running = {abort, done: result.catch(() => {})}
    const writer = writeUntil(keys, () => finished)
    const applied = await result
    const {logs, writes} = await writer

    expect.soft(applied.moves.map((m) => [m.id, m.phase]), `executor trouble: ${trouble.slice(0, 5).join(' | ')}`).toEqual([
      ['chain-0', 'done'],
      ['chain-1', 'done'],
    ])
    // The writer ran across the moves: otherwise nothing was at stake.
    expect(writes).toBeGreaterThan(keys.length)
    const lost: string[] = []
    for (const [k, log] of logs) {
      const v = await file.client.get(k).catch((err: unknown) => `(read failed: ${String(err)})`)
      const ok = v === log.acked || (v !== null && log.unsure.has(v))
      if (!ok) lost.push(`${k}: read ${v}, last acknowledged ${log.acked}`)
    }
    expect(lost.slice(0, 5)).toEqual([])
    expect(lost).toHaveLength(0)

    expect(await openSlotMarks(file.masters)).toEqual([])
    const served = new Map(await Promise.all(file.masters.map(async (m) => [m.node, await servedSlots(m)] as const)))
    const mismatched: string[] = []
    for (const {value: s} of (await listShards(file.ctx)).shards) {
      const {first, end} = slotsOfRange(s.range)
      const recorded = s.replicas[0]?.node
      for (let slot = first; slot < end; slot++) {
        const serving = [...served].filter(([, set]) => set.has(slot)).map(([node]) => node)
        if (serving.length !== 1 || serving[0] !== recorded) mismatched.push(`slot ${slot}: etcd ${recorded}, redis ${serving.join('+') || 'none'}`)
      }
    }
    expect(mismatched.slice(0, 5)).toEqual([])
    const after = (await listShards(file.ctx)).shards.map((s) => s.value)
    expect(after.find((s) => s.id === ofA.id)?.replicas).toEqual([{node: b, role: 'voter'}])
    expect(after.find((s) => s.id === ofB.id)?.replicas).toEqual([{node: c, role: 'voter'}])
  }, 300_000)
})
