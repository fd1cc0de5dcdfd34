import {getShard, listNodes} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {errorMessage} from '../errors/errors.js'
import {AliveSchema} from '../model/node.js'
import {effectiveWriteQuorum} from '../model/writeFloor.js'
import {type Shard, ShardSchema} from '../model/shard.js'
import {lastSegment} from '../etcd/keys.js'
import {loadClusterToken} from '../node/clusterToken.js'
import {type NodeClient} from '../node/nodeClient.js'
import {NodeClients} from '../node/nodeClients.js'
import {isNodeRequestError} from '../node/nodeRequestError.js'
import {copyKeptOutside, type MoveSide} from '../node/moveCopyHolds.js'
import {MOVES_VIEW_MAX_AGE_MS, MovesView, readMoves} from '../node/movesView.js'
import {BUCKET_LISTING_BYTES, digestFormatOf, type DigestResponse, MAX_BATCH_BYTES, type NodeRecord} from '../node/protocol.js'
import {RECORD_HASH_FORMAT} from '../node/recordHash.js'
import {encodedRecordSize} from '../node/recordCodec.js'
import {clusterWriteQuorums} from '../router/clusterWriteQuorums.js'
import {agreedDigests, initialCutoff} from './agreedCutoff.js'
import {listBucketsOnAll} from './bucketListings.js'
import {graceRefusal} from './graceCheck.js'
import {ownValue} from '../model/ownKey.js'
import {differingBuckets, planRepair} from './repairPlan.js'

/** RepairOptions select what to repair and bound the work. */
export interface RepairOptions {
  /** shard restricts the run to one shard id (default: every shard). */
  shard?: number
  /** rounds bounds digest-compare-repair rounds per shard (writes racing the repair can leave new differences). */
  rounds?: number
  /** timeoutMs bounds each request to a node. */
  timeoutMs?: number
  /** bucketsPerRequest bounds how many buckets one bucket listing request asks for (default 256). */
  bucketsPerRequest?: number
  /** listingBytes bounds one bucket listing's answer at whole buckets (default BUCKET_LISTING_BYTES); the rest is asked again. */
  listingBytes?: number
  /** shards restricts the run to these shard ids (a node running anti-entropy for the shards it leads); ignored when `shard` is given. */
  shards?: readonly number[]
  /**
   * purge: once a shard's replicas converged, fence and purge its tombstones older than
   * the agreed cutoff (see purgeShard). Only shards whose every replica is a voter (no
   * move running) are purged. Default true.
   */
  purge?: boolean
  /** maxClockOffsetMs is the cluster's clock offset bound (default 500 ms); the cutoff starts at now minus twice it. */
  maxClockOffsetMs?: number
  /** now returns wall ms (injected in tests). */
  now?: () => number
  /**
   * moves is the view of the move records a purge judges (a node's own, shared with its other
   * readers: src/node/movesView.ts); absent, the run keeps one of its own.
   */
  moves?: Pick<MovesView, 'moves'>
}

/** ShardRepair is what anti-entropy did to one shard. */
export interface ShardRepair {
  shard: number
  epoch: number
  /** replicas compared: voters and outgoing replicas (learning and joining ones are the executor's to verify; leaving ones are not served). */
  replicas: string[]
  /** unreachable replicas were skipped (run repair again once they are back). */
  unreachable: {node: string; reason: string}[]
  buckets: number
  /** differingBuckets is how many buckets differed in the first round. */
  differingBuckets: number
  /** fixed maps each replica to the number of records written to it. */
  fixed: Record<string, number>
  rounds: number
  /** converged: every compared replica's digest is equal at the end. */
  converged: boolean
  /** error says why the shard could not be compared at all. */
  error?: string
  /** tombstonesBefore is the cutoff the replicas compared digests at (older tombstones count as absent). */
  tombstonesBefore?: number
  /** purged counts the tombstones older than the cutoff deleted across the replicas (0 when not purged). */
  purged: number
  /** gc says why tombstones were not purged (absent when they were, or when purging was not asked for). */
  gc?: string
}

/** RepairReport is the result of one `shardctl repair` run. */
export interface RepairReport {
  cluster: string
  shards: ShardRepair[]
  /** recordsFixed sums every record written across every shard. */
  recordsFixed: number
  converged: boolean
}

/**
 * repairShards runs anti-entropy over the shard's (or every shard's) replicas: it fetches
 * each replica's bucket digests, lists only the buckets that differ, merges them with
 * last-writer-wins and applies to every replica what it lacks (apply kind `repair`), then
 * compares digests again — up to `rounds` times, so writes racing the repair cannot make
 * it loop. An unreachable replica is reported and skipped; a stale epoch re-reads the
 * shard and starts it over. Idempotent: running it on converged replicas writes nothing.
 *
 * Throws UserError NOT_FOUND (no such shard, no token: no node ever started) and the
 * store's errors; per-shard failures are reported in the result, not thrown.
 */
export async function repairShards(ctx: ServiceContext, opts: RepairOptions = {}): Promise<RepairReport> {
  const token = await loadClusterToken(ctx, {create: false})
  const wanted = opts.shards ? new Set(opts.shards) : undefined
  const read =
    opts.shard !== undefined
      ? [await getShard(ctx, opts.shard)]
      : (await ctx.store.listTyped(ctx.keys.shardsPrefix, ShardSchema)).items.filter((i) => !wanted || wanted.has(i.value.id))
  const shards = read.map((i) => i.value)
  // The revision each shard was read at (its last change): the moves a purge judges it by are at least as new.
  const shardRevisions = new Map(read.map((i) => [i.value.id, i.modRevision]))
  const {addresses, graces} = await nodeAddresses(ctx)
  const clients = new NodeClients({token, timeoutMs: opts.timeoutMs ?? 10_000})
  const client = (node: string): NodeClient | undefined => {
    const address = addresses.get(node)
    return address ? clients.client({id: node, address}) : undefined
  }
  // Read only by a shard about to purge (purgeShard): a move keeping a copy outside a shard's map stops it. The moves come
  // from a view at least as new as the shard read (movesView.ts: why that is enough), the quorums once per run.
  const view = opts.moves ?? new MovesView({read: () => readMoves(ctx), now: Date.now, maxAgeMs: MOVES_VIEW_MAX_AGE_MS})
  let quorums: Promise<(number | null | undefined)[]> | undefined
  const purging: PurgeContext = {
    graces,
    shardRevisions,
    moves: (atLeast) => view.moves(atLeast),
    quorums: () => (quorums ??= clusterWriteQuorums(ctx)),
  }
  try {
    const out: ShardRepair[] = []
    for (const shard of shards) out.push(await repairShardWithRetry(ctx, shard, client, purging, opts))
    return {cluster: ctx.cluster, shards: out, recordsFixed: out.reduce((n, s) => n + Object.values(s.fixed).reduce((a, b) => a + b, 0), 0), converged: out.every((s) => s.converged)}
  } finally {
    await clients.close()
  }
}

/** nodeAddresses reads where each node is reached and the `--tombstone-grace` each alive node publishes (undefined: none published). */
async function nodeAddresses(ctx: ServiceContext): Promise<{addresses: Map<string, string>; graces: Map<string, number | undefined>}> {
  const out = new Map<string, string>()
  const graces = new Map<string, number | undefined>()
  for (const n of await listNodes(ctx)) out.set(n.value.id, n.value.address)
  const {items} = await ctx.store.list(ctx.keys.alivePrefix)
  for (const kv of items) {
    try {
      const a = AliveSchema.safeParse(JSON.parse(kv.value))
      if (a.success) {
        out.set(lastSegment(kv.key), a.data.address)
        graces.set(lastSegment(kv.key), a.data.tombstoneGraceMs)
      }
    } catch {
      // an invalid alive record: keep the node record's address
    }
  }
  return {addresses: out, graces}
}

/** PurgeContext is what purgeShard judges besides the shard: the graces the alive nodes publish, and the moves. */
interface PurgeContext {
  graces: ReadonlyMap<string, number | undefined>
  /** shardRevisions: the mod revision of each shard as last read (updated when a retry re-reads it). */
  shardRevisions: Map<number, bigint>
  /** moves: every move record, as of etcd revision `atLeast` or later (MovesView.moves). */
  moves: (atLeast: bigint) => Promise<readonly MoveSide[]>
  /** quorums: the write quorums any router may have acknowledged with (registered routers and the write floor; read once). */
  quorums: () => Promise<(number | null | undefined)[]>
}

async function repairShardWithRetry(ctx: ServiceContext, initial: Shard, client: (node: string) => NodeClient | undefined, purging: PurgeContext, opts: RepairOptions): Promise<ShardRepair> {
  let shard = initial
  for (let attempt = 0; ; attempt++) {
    try {
      return await repairShard(shard, client, purging, opts)
    } catch (err) {
      if (attempt < 3 && (isNodeRequestError(err, 'STALE_EPOCH') || err instanceof RangeError)) {
        const fresh = await getShard(ctx, shard.id)
        shard = fresh.value
        purging.shardRevisions.set(shard.id, fresh.modRevision)
        continue
      }
      return {shard: shard.id, epoch: shard.epoch, replicas: comparedReplicas(shard), unreachable: [], buckets: 0, differingBuckets: 0, fixed: {}, rounds: 0, converged: false, purged: 0, error: errorMessage(err)}
    }
  }
}

function comparedReplicas(shard: Shard): string[] {
  return shard.replicas.filter((r) => r.role === 'voter' || r.role === 'outgoing').map((r) => r.node)
}

/** repairShard throws STALE_EPOCH NodeRequestErrors and RangeError (bounds differ) for the caller to retry on a fresh shard. */
async function repairShard(shard: Shard, client: (node: string) => NodeClient | undefined, purging: PurgeContext, opts: RepairOptions): Promise<ShardRepair> {
  const replicas = comparedReplicas(shard)
  const report: ShardRepair = {shard: shard.id, epoch: shard.epoch, replicas, unreachable: [], buckets: 0, differingBuckets: 0, fixed: Object.fromEntries(replicas.map((n) => [n, 0])), rounds: 0, converged: false, purged: 0}
  const maxRounds = opts.rounds ?? 3
  const perRequest = opts.bucketsPerRequest ?? 256
  let cutoff = initialCutoff((opts.now ?? Date.now)(), opts.maxClockOffsetMs)
  let live = replicas
  let format = RECORD_HASH_FORMAT
  for (let round = 0; round < maxRounds; round++) {
    const agreed = await agreedDigests((c, f) => digestsOf(shard, live, client, report, c, f), cutoff, undefined, format)
    const digests = agreed.digests
    if (agreed.cutoff === undefined) throw new Error(`replicas of shard ${shard.id} did not agree on a tombstone cutoff and record hash format`)
    cutoff = agreed.cutoff
    format = agreed.format
    report.tombstonesBefore = cutoff
    live = [...digests.keys()]
    // Fence (a scan of the shard) only when some replica holds tombstones to purge.
    const purgeIfExpired = async (): Promise<void> => {
      const expired = [...digests.values()].some((d) => (d.tombstonesExcluded ?? 1) > 0)
      if (report.converged && expired && (opts.purge ?? true)) await purgeShard(shard, client, purging, cutoff, format, report)
    }
    if (live.length < 2) {
      report.converged = live.length === replicas.length
      // A lone replica (rf 1) has nothing to compare, but its tombstones are collected all
      // the same, through the same fence: returning here kept every tombstone of an rf 1 shard.
      if (live.length === 1) await purgeIfExpired()
      return report
    }
    const differing = differingBuckets([...digests.values()])
    report.buckets = digests.values().next().value!.buckets.length
    if (round === 0) report.differingBuckets = differing.length
    if (differing.length === 0) {
      report.converged = report.unreachable.length === 0
      await purgeIfExpired()
      return report
    }
    report.rounds = round + 1
    const listers = new Map(live.map((node) => [node, client(node)!]))
    const bounds = digests.values().next().value!.bounds
    for await (const step of listBucketsOnAll(listers, shard.id, shard.epoch, bounds, differing, {bucketsPerRequest: perRequest, maxBytes: opts.listingBytes ?? BUCKET_LISTING_BYTES})) {
      const fixes = planRepair(step.listings, cutoff)
      await Promise.all(
        [...fixes].map(async ([node, records]) => {
          for (const chunk of chunksOf(records, MAX_BATCH_BYTES / 4)) await client(node)!.apply(shard.id, shard.epoch, chunk, 'repair')
          report.fixed[node] = (ownValue(report.fixed, node) ?? 0) + records.length
        }),
      )
    }
  }
  const final = await digestsOf(shard, live, client, report, cutoff, format)
  report.converged = report.unreachable.length === 0 && final.size >= 2 && differingBuckets([...final.values()]).length === 0
  return report
}

/**
 * purgeShard deletes the shard's tombstones older than `cutoff` on every replica, in two
 * steps: fence every replica at the cutoff (a pending fence: each answers the digest of the
 * values older than it it holds, and the fence stays held while it gains none), and only
 * when every replica fenced with equal digests, confirm every fence (each then takes no
 * value older than the cutoff, for good: its gc floor; refused where the replica gained
 * one since its fence), and only when every replica confirmed, purge on each. Why that
 * cannot undo an acknowledged delete: StorageEngine.purgeTombstones. A round that stops
 * before the confirms leaves no floor: a write that raced its fence is repaired by the
 * next round (StorageEngine.fencePending).
 * Skipped (reason in `report.gc`) unless every replica of the shard is a voter — a move's
 * learning or joining replica is not compared, so its holdings are not known — and unless every alive
 * node and every replica publish the same tombstone grace (graceRefusal: a node that
 * joins the shard later must refuse the late writes the replicas refuse).
 */
async function purgeShard(shard: Shard, client: (node: string) => NodeClient | undefined, purging: PurgeContext, cutoff: number, format: number, report: ShardRepair): Promise<void> {
  if (!shard.replicas.every((r) => r.role === 'voter')) {
    report.gc = 'a move is running on the shard'
    return
  }
  // Every replica a voter, but a move may keep its destination's copy outside the map, to repair them from (moveCopyHolds.ts
  // copyKeptOutside): a fence now would make them drop what that copy alone holds. Moves that cannot be read: no purge.
  // Only where a write quorum of 1 may have been used: with w >= 2 a write the source took is on another voter too, so the
  // copy is never repaired from (destinationCopyKeep.ts), and the purge goes on (a move waiting in `aborting` for its
  // destination to come back and drop its partial copy must not hold the shard's tombstones for ever).
  let kept: MoveSide | undefined
  try {
    // A shard whose read revision is not known asks for a read newer than any (fail safe: a fresh read).
    kept = copyKeptOutside(await purging.moves(purging.shardRevisions.get(shard.id) ?? BigInt(Number.MAX_SAFE_INTEGER)), shard.id)
    if (kept && effectiveWriteQuorum(shard.replicas.length, await purging.quorums()) >= 2) kept = undefined
  } catch (err) {
    report.gc = `cannot read the moves or the write quorums to see whether one keeps a copy of the shard outside its map: ${errorMessage(err)}; next run`
    return
  }
  if (kept) {
    report.gc = `move ${kept.id} (${kept.phase}) keeps ${kept.to}'s copy of the shard outside its map, to repair its voters from; purged once it is finished`
    return
  }
  const graces = purging.graces
  // Every node that may hold the shard later counts, not only its replicas; a replica with no alive record publishes no grace.
  const refusal = graceRefusal(new Map([...graces, ...shard.replicas.filter((r) => !graces.has(r.node)).map((r) => [r.node, undefined] as const)]))
  if (refusal) {
    report.gc = refusal
    return
  }
  const nodes = shard.replicas.map((r) => r.node)
  const clients = nodes.map(client)
  if (clients.some((c) => !c)) {
    report.gc = 'a replica has no known address'
    return
  }
  try {
    // At the format the replicas' digests agreed on: a node of an older build fences at its own.
    const fenced = await Promise.all(clients.map((c) => c!.gcFence(shard.id, shard.epoch, cutoff, {format, pending: true})))
    if (new Set(fenced.map(digestFormatOf)).size > 1) {
      report.gc = 'replicas fenced at different record hash formats (a node was upgraded or rolled back meanwhile); next run'
      return
    }
    if (differingBuckets(fenced).length > 0) {
      report.gc = 'replicas hold different values older than the cutoff (a write raced the fence); next run'
      return
    }
    // Every pending fence confirmed (each still held: no value older than the cutoff came since) before any replica purges.
    // A node of an older build answered no fence id: it set its floor at once, and screens from its fence on.
    const refused = await Promise.all(
      clients.map((c, i) => {
        const id = fenced[i]!.fence
        if (id === undefined) return undefined
        return c!.gcConfirm(shard.id, shard.epoch, cutoff, id).then(
          () => undefined,
          (err: unknown) => {
            if (isNodeRequestError(err, 'PRECONDITION')) return `${nodes[i]}: ${errorMessage(err)}`
            throw err
          },
        )
      }),
    )
    const first = refused.find((r) => r !== undefined)
    if (first) {
      report.gc = `a replica's fence was not held to its confirm (a write raced the fence); next run (${first})`
      return
    }
    const purged = await Promise.all(clients.map((c) => c!.gcPurge(shard.id, shard.epoch, cutoff)))
    report.purged = purged.reduce((n, p) => n + p.purged, 0)
  } catch (err) {
    report.gc = `gc failed: ${errorMessage(err)}`
  }
}

async function digestsOf(shard: Shard, nodes: readonly string[], client: (node: string) => NodeClient | undefined, report: ShardRepair, cutoff: number, format: number): Promise<Map<string, DigestResponse>> {
  const out = new Map<string, DigestResponse>()
  await Promise.all(
    nodes.map(async (node) => {
      const c = client(node)
      if (!c) {
        addUnreachable(report, node, 'no known address')
        return
      }
      try {
        out.set(node, await c.digest(shard.id, shard.epoch, {tombstonesBefore: cutoff, format}))
      } catch (err) {
        if (isNodeRequestError(err, 'STALE_EPOCH')) throw err
        addUnreachable(report, node, errorMessage(err))
      }
    }),
  )
  // Keep the replica order stable for the report and for differingBuckets' first digest.
  return new Map(nodes.filter((n) => out.has(n)).map((n) => [n, out.get(n)!]))
}

function addUnreachable(report: ShardRepair, node: string, reason: string): void {
  if (!report.unreachable.some((u) => u.node === node)) report.unreachable.push({node, reason})
}

function* chunksOf(records: readonly NodeRecord[], maxBytes: number): Generator<NodeRecord[]> {
  let chunk: NodeRecord[] = []
  let bytes = 0
  for (const r of records) {
    const size = encodedRecordSize(r)
    if (chunk.length > 0 && bytes + size > maxBytes) {
      yield chunk
      chunk = []
      bytes = 0
    }
    chunk.push(r)
    bytes += size
  }
  if (chunk.length > 0) yield chunk
}
