import {z} from 'zod'
import {ERROR_CODES} from '../errors/codes.js'
import {HashRangeSchema, REPLICA_ROLES} from '../model/shard.js'
import {ShardLoadSchema} from '../model/stats.js'
import {LEGACY_RECORD_HASH_FORMAT} from './recordHash.js'

/**
 * The storage node's wire protocol (HTTP/1.1, keep-alive). Every route but `/healthz`
 * needs the cluster token in {@link TOKEN_HEADER}. Shard-scoped routes carry the sender's
 * epoch for the shard in the `epoch` query parameter and are fenced:
 *
 * | method | path | body → response |
 * | --- | --- | --- |
 * | GET | /v1/shards/{shard}/records/{base64url key}?epoch=E | → value bytes; {@link RECORD_HEADER} says value / tombstone / absent, {@link VERSION_HEADER} the HLC |
 * | POST | /v1/shards/{shard}/apply?epoch=E&kind=write\|repair\|copy | record batch ({@link RECORDS_CONTENT_TYPE}) → {@link ApplyResponse} |
 * | GET | /v1/shards/{shard}/snapshot?epoch=E[&lo&hi][&cursor][&maxBytes] | → record batch; {@link CURSOR_HEADER} resumes, absent when done |
 * | GET | /v1/shards/{shard}/digest?epoch=E[&tombstonesBefore=MS][&format=F] | → {@link DigestResponse} |
 * | POST | /v1/shards/{shard}/buckets?epoch=E | {@link BucketsRequest} → record batch of those digest buckets (with `maxBytes`: of the first {@link BUCKETS_ANSWERED_HEADER} of them) |
 * | POST | /v1/shards/{shard}/gc?epoch=E | {@link GcRequest} → {@link DigestResponse} (fence) or {@link GcPurgeResponse} (purge) |
 * | GET | /v1/shards/{shard}/inflight | → {@link InflightResponse} |
 * | POST | /v1/shards/{shard}/accept | {@link AcceptRequest} → {@link AcceptResponse} |
 * | POST | /v1/shards/{shard}/drop | {@link DropRequest} → {@link DropResponse} |
 * | GET | /v1/stats | → {@link NodeStatusResponse} |
 * | GET | /healthz | → {@link HealthResponse} (no token) |
 *
 * Every response to a shard-scoped request carries {@link EPOCH_HEADER} (the node's epoch
 * for the shard, 0 when unknown). Errors are JSON {@link ErrorBody} with the status from
 * src/errors/httpStatus.ts: 409 STALE_EPOCH (retriable: refresh the map; `epoch` is the
 * node's), 421 NOT_OWNER, 401 UNAUTHORIZED, 503 NOT_SERVING (retriable), 400 BAD_INPUT,
 * 413 TOO_LARGE, 404 NOT_FOUND (unknown route), 412 PRECONDITION.
 *
 * (The protocol carries no version number: nodes, routers and the executor of one cluster
 * run one build. A mixed-version rollout would need a handshake first.)
 */

/** TOKEN_HEADER carries the cluster token on every request. */
export const TOKEN_HEADER = 'x-shardctl-token'
/**
 * NODE_HEADER names the node id a request is meant for. Addresses are not identities: a node
 * restarted on `--listen HOST:0` may bind the port a stopped node's record still names, and a
 * sender dialling that node there would otherwise have the other node answer (and ack) for it.
 * A node refuses a request naming another id (503 NOT_SERVING: the node meant is not there);
 * a request without the header (curl, a test) is served.
 */
export const NODE_HEADER = 'x-shardctl-node'
/** EPOCH_HEADER carries the node's epoch for the request's shard on every shard-scoped response. */
export const EPOCH_HEADER = 'x-shardctl-epoch'
/** VERSION_HEADER carries a record's HLC version (formatHlc) on a GET response. */
export const VERSION_HEADER = 'x-shardctl-version'
/**
 * REMOVED_VALUE_HEADER, on a router's answer to `DELETE /kv/{key}`: `true` when the delete
 * removed a value, `false` when the key was absent or already deleted; missing when the
 * replicas could not tell (see Coordinator's WriteResult.removedValue).
 */
export const REMOVED_VALUE_HEADER = 'x-shardctl-removed-value'
/** RECORD_HEADER tells what a GET found: `value`, `tombstone` or `absent`. */
export const RECORD_HEADER = 'x-shardctl-record'
/** CURSOR_HEADER carries the cursor resuming a snapshot after the last record sent; absent once the range is exhausted. */
export const CURSOR_HEADER = 'x-shardctl-cursor'
/**
 * BUCKETS_ANSWERED_HEADER, on a bucket listing's answer: how many of the asked buckets, in
 * ascending order of distinct indexes (bucketAnswerOrder), the batch holds completely. Fewer
 * than asked only when the request carried `maxBytes`; the rest must be asked again (they
 * are not empty). Absent from a node that predates it, which answers every asked bucket.
 */
export const BUCKETS_ANSWERED_HEADER = 'x-shardctl-buckets-answered'
/**
 * BUCKET_LISTING_BYTES is the byte bound executors and anti-entropy put on one bucket
 * listing: a listing of 256 differing buckets can be a whole shard (GiBs) in memory at once
 * on the node and the asker; bounded, it is at most this plus one digest bucket.
 */
export const BUCKET_LISTING_BYTES = 32 * 1024 * 1024
/** RECORDS_CONTENT_TYPE is the binary record batch media type (see recordCodec.ts). */
export const RECORDS_CONTENT_TYPE = 'application/x-shardctl-records'

// The record size limits live apart, so the storage threads need not load the schemas here.
export {MAX_KEY_BYTES, MAX_VALUE_BYTES} from '../model/recordLimits.js'
/** MAX_BATCH_BYTES bounds one apply body (many records: copy chunks and batched writes). */
export const MAX_BATCH_BYTES = 32 * 1024 * 1024
/** DEFAULT_CHUNK_BYTES is the snapshot chunk size when the caller names none. */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024
/** MAX_CHUNK_BYTES caps a snapshot chunk (one record over it is still sent whole). */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024
/** MAX_PULL_WAIT_MS bounds the long poll of `GET /v1/shards/{id}/pull?wait=MS` (a request is never held longer). */
export const MAX_PULL_WAIT_MS = 2000
/** MAX_JSON_BODY_BYTES bounds JSON request bodies (accept, drop, buckets). */
export const MAX_JSON_BODY_BYTES = 64 * 1024

/**
 * NodeRecord is one versioned record on the wire and in memory. `value: null` is a
 * tombstone. `version` is formatHlc's fixed-width encoding, so comparing versions as
 * strings orders them like compareHlc.
 */
export interface NodeRecord {
  key: Buffer
  version: string
  value: Buffer | null
}

/** recordsDataBytes sums the key and value bytes of `records` (a tombstone counts its key): what load stats, range totals and copy progress count. */
export function recordsDataBytes(records: readonly NodeRecord[]): number {
  let n = 0
  for (const r of records) n += r.key.length + (r.value?.length ?? 0)
  return n
}

/**
 * APPLY_KINDS says why records are applied; only `write` counts as client write load in stats
 * (see {@link countsAsClientWrite}). A move's copy is not one of them: the destination pulls it
 * from the source (CopyPuller), screened by the source's gc floors it adopts first. The old
 * `copy` kind (an executor relaying the copy, before session 4) took records past every
 * screen from any holder of the cluster token, with nothing in this build sending it.
 */
export const APPLY_KINDS = ['write', 'repair'] as const

/** ApplyKind is one of {@link APPLY_KINDS}. */
export type ApplyKind = (typeof APPLY_KINDS)[number]

/**
 * REPLAY_PARAM is the apply query parameter (`replay=1`) that marks a write as a replay: a
 * router's hinted handoff re-delivering a client write this replica missed. A replay is
 * applied exactly like a write (same LWW merge, clock and gc checks, durability, roles and
 * fencing); it only stays out of the node's load stats. A node built before it ignores the
 * parameter and counts the replay as a write, as it always did.
 */
export const REPLAY_PARAM = 'replay'

/**
 * KEPT_FOR_PARAM names, on a digest or bucket listing, the move whose destination's kept copy
 * is read: a node that holds no role in the shard answers it only while that move (unfinished,
 * in `aborting` or `rb-cutover`) names it the destination of that shard (moveCopyHolds.ts
 * keptCopyRefusal), so the executor can repair the shard's voters from the copy before dropping
 * it (src/executor/keptCopyRepair.ts). Read-only: no write route takes it. A node built before
 * it ignores the parameter and answers NOT_OWNER as before (the executor waits).
 */
export const KEPT_FOR_PARAM = 'keptFor'

/** KEPT_FOR_PATTERN is what a {@link KEPT_FOR_PARAM} value must look like: a move id (model/move.ts). */
export const KEPT_FOR_PATTERN = /^[A-Za-z0-9_.-]{1,160}$/

/**
 * countsAsClientWrite tells whether an apply counts as client write load in the node's
 * stats (writes/s, the key sample): a `write` that is not a replay. Repairs and copies are
 * not client load; neither is a replay, whose client write was made once, when the other
 * replicas took (and counted) it: counting it again when the replica comes back would make
 * a replica that was down look hot to the planner.
 */
export function countsAsClientWrite(kind: ApplyKind, replay: boolean): boolean {
  return kind === 'write' && !replay
}

const epoch = z.number().int().min(1)

/**
 * ErrorBodySchema: every error response. `epoch` is the node's epoch for the shard (STALE_EPOCH
 * and NOT_OWNER). `storageFull` marks a NOT_SERVING for want of disk space (storageFull.ts):
 * unlike the other NOT_SERVING refusals it does not pass in a moment, so a router answers it
 * at once instead of retrying it until the request's deadline (src/router/refusalRetry.ts).
 */
export const ErrorBodySchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  epoch: z.number().int().nonnegative().optional(),
  storageFull: z.literal(true).optional(),
})

/** ErrorBody is a validated error response. */
export type ErrorBody = z.infer<typeof ErrorBodySchema>

/**
 * ApplyResponseSchema: `applied` records won the LWW merge and were written; `ignored` were
 * older or equal (idempotent). `superseded` lists the ignored records that lost to the
 * version this replica keeps (`i` indexes the request's records): a newer one, or the same
 * version holding a record that wins the tie (a writer id reused across a router restart),
 * so a coordinator never acknowledges a write that lost; an identical repeat is not
 * listed. Absent from older nodes' answers; nodes before 2026-12-02 list only newer versions.
 */
export const ApplyResponseSchema = z.object({
  epoch,
  applied: z.number().int().nonnegative(),
  ignored: z.number().int().nonnegative(),
  superseded: z.array(z.object({i: z.number().int().nonnegative(), version: z.string().max(100)})).optional(),
  /** expired indexes the tombstones that arrived already past the replica's grace: they deleted what they beat but nothing was stored, so they acknowledge no client delete. */
  expired: z.array(z.number().int().nonnegative()).optional(),
  /** deletePriors: for each tombstone `i` of a client write (kind=write, not a replay) this replica stored, what it replaced there: the version it held (absent: nothing) and whether that was a value. */
  deletePriors: z.array(z.object({i: z.number().int().nonnegative(), version: z.string().max(100).optional(), live: z.boolean()})).optional(),
})

/** ApplyResponse is a validated apply result. */
export type ApplyResponse = z.infer<typeof ApplyResponseSchema>

/**
 * DigestResponseSchema: the shard's digest buckets over its range. Bucket `i` covers the
 * hash sub-range `bounds[i]..bounds[i+1]` (`bounds` has `buckets.length + 1` entries,
 * starting at range.lo and ending at range.hi); each bucket is 16 hex digits, the XOR of
 * the 64-bit hashes of (key, version, value or tombstone) of its records. Two replicas with
 * the same range compute the same bounds, so equal buckets at the same `format` mean equal
 * records (up to 2^-64; see recordHashAt for values that differ only in content).
 *
 * `format` is the record hash format the buckets were computed at: the one the request
 * named (`format=F`), or {@link LEGACY_RECORD_HASH_FORMAT} when it named none (a requester
 * of a build before formats were exchanged expects that one). A node of such a build
 * ignores `format=F`, answers at 2 and sends no `format`: read an absent one as 2 (see
 * digestFormatOf). Buckets at different formats are never comparable; agreedDigests asks
 * again at the oldest format every replica answered, which newer nodes compute from rows.
 * A format the node cannot compute is refused with BAD_INPUT.
 *
 * When the request names `tombstonesBefore`, tombstones whose version's wall clock is
 * older are left out, so replicas compare equal whatever their purge progress. The node
 * never uses a cutoff newer than its clock minus its tombstone grace: it answers with the
 * cutoff it used, and a requester whose replicas answered different cutoffs asks again
 * with the oldest of them (then all use it).
 */
export const DigestResponseSchema = z.object({
  shard: z.number().int().nonnegative(),
  epoch,
  range: HashRangeSchema,
  bounds: z.array(z.number().int().nonnegative()),
  buckets: z.array(z.string().regex(/^[0-9a-f]{16}$/)),
  /** counts[i] is the number of records (tombstones included) in bucket i. */
  counts: z.array(z.number().int().nonnegative()),
  /** tombstonesBefore is the cutoff the node used (present when the request carried one). */
  tombstonesBefore: z.number().int().optional(),
  /** tombstonesExcluded counts the tombstones older than the cutoff that were left out (what a purge would delete). */
  tombstonesExcluded: z.number().int().nonnegative().optional(),
  /** format is the record hash format of `buckets` (absent: a node that predates it, format 2). */
  format: z.number().int().positive().optional(),
  /** fence (a pending gc fence's answer only) is the fence's id, for its confirm (see GcRequest); absent: the node set its floor at once. */
  fence: z.number().int().nonnegative().optional(),
})

/** DigestResponse is a validated digest. */
export type DigestResponse = z.infer<typeof DigestResponseSchema>

/** digestFormatOf is the record hash format `d`'s buckets were computed at (an absent one is {@link LEGACY_RECORD_HASH_FORMAT}). */
export function digestFormatOf(d: Pick<DigestResponse, 'format'>): number {
  return d.format ?? LEGACY_RECORD_HASH_FORMAT
}

/** MAX_BYTES_FIX is what a bad bucket listing `maxBytes` is told (one message whatever was wrong with it). */
const MAX_BYTES_FIX = {error: 'must be a positive integer number of bytes (omit it to list every asked bucket)'}

/**
 * BucketsRequestSchema: which digest buckets (indexes into DigestResponse.buckets at the same
 * epoch) to list, and optionally `maxBytes`: the node then stops after the bucket during
 * which its answer reached that many bytes (never inside a bucket, at least one bucket) and
 * says in {@link BUCKETS_ANSWERED_HEADER} how many it answered. Without it (an older asker)
 * every asked bucket is answered.
 */
export const BucketsRequestSchema = z.object({
  buckets: z.array(z.number().int().nonnegative()).min(1).max(4096),
  maxBytes: z.number(MAX_BYTES_FIX).int(MAX_BYTES_FIX).positive(MAX_BYTES_FIX).max(Number.MAX_SAFE_INTEGER, MAX_BYTES_FIX).optional(),
})

/** BucketsRequest is a validated bucket listing request. */
export type BucketsRequest = z.infer<typeof BucketsRequestSchema>

/**
 * GcRequestSchema: the steps of purging a shard's tombstones older than `before` (version
 * wall ms), sent by anti-entropy to every replica (see repairShards):
 * - `fence` with `pending: true` (requesters since session 33) records a pending fence of
 *   the shard's range at `before` and answers its digest at that cutoff with the fence's
 *   id (DigestResponse.fence); it raises no floor (StorageEngine.fencePending);
 * - `confirm` (`fence`: that id), once every replica fenced with equal digests, makes the
 *   fence the replica's gc floor (from then on it takes no client or repair value older than
 *   `before`), or is refused with PRECONDITION when the replica took a value older than
 *   `before` since the fence, restarted or dropped the range (StorageEngine.confirmFence);
 * - `fence` without `pending` (a requester of an older build) sets the gc floor at once;
 * - once every replica confirmed (or fenced without `pending`), `purge` deletes the
 *   tombstones older than `before`.
 * A fence newer than the node's clock minus its grace, and a purge above the node's gc
 * floor, are refused with PRECONDITION. A node of an older build ignores `pending` (it sets
 * the floor at once and answers no `fence` id: nothing to confirm) and refuses `confirm`.
 */
export const GcRequestSchema = z.object({
  phase: z.enum(['fence', 'confirm', 'purge']),
  before: z.number().int().nonnegative(),
  /** format: the record hash format of a fence's digest (absent: {@link LEGACY_RECORD_HASH_FORMAT}; see DigestResponse). */
  format: z.number().int().positive().optional(),
  /** pending (phase fence): record a pending fence to confirm, raising no floor. */
  pending: z.boolean().optional(),
  /** fence (phase confirm): the id the pending fence's answer carried. */
  fence: z.number().int().nonnegative().optional(),
})

/** GcRequest is a validated gc request. */
export type GcRequest = z.infer<typeof GcRequestSchema>

/** GcConfirmResponseSchema: a confirmed fence (its cutoff, now the replica's gc floor over the shard's range or below it). */
export const GcConfirmResponseSchema = z.object({
  shard: z.number().int().nonnegative(),
  epoch,
  confirmed: z.number().int().nonnegative(),
})

/** GcConfirmResponse is a validated confirm answer. */
export type GcConfirmResponse = z.infer<typeof GcConfirmResponseSchema>

/** GcPurgeResponseSchema: how many tombstones a purge deleted. */
export const GcPurgeResponseSchema = z.object({
  shard: z.number().int().nonnegative(),
  epoch,
  purged: z.number().int().nonnegative(),
})

/** GcPurgeResponse is a validated purge answer. */
export type GcPurgeResponse = z.infer<typeof GcPurgeResponseSchema>

/** InflightResponseSchema: data requests (get/apply) for the shard being served right now. */
export const InflightResponseSchema = z.object({
  shard: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
  inflight: z.number().int().nonnegative(),
})

/** InflightResponse is a validated in-flight count. */
export type InflightResponse = z.infer<typeof InflightResponseSchema>

/**
 * AcceptRequestSchema: "be at epoch >= `epoch` for this shard". The node re-reads the shard
 * from etcd when it knows an older epoch, then answers with what it now knows. A move's
 * barrier uses it to make sure a replica has seen the new map before depending on it.
 */
export const AcceptRequestSchema = z.object({epoch})

/** AcceptRequest is a validated accept request. */
export type AcceptRequest = z.infer<typeof AcceptRequestSchema>

/** AcceptResponseSchema: the node's epoch and its role (null: listed in no role) for the shard. */
export const AcceptResponseSchema = z.object({
  shard: z.number().int().nonnegative(),
  epoch,
  role: z.enum(REPLICA_ROLES).nullable(),
  range: HashRangeSchema,
})

/** AcceptResponse is a validated accept result. */
export type AcceptResponse = z.infer<typeof AcceptResponseSchema>

/**
 * DropRequestSchema: delete this node's copy of the shard's range (or of `range`, which
 * must lie inside it). Refused (PRECONDITION) while the node is a voter, learning, joining
 * or outgoing replica of any shard overlapping the range, per a fresh etcd read: only an
 * aborted destination or a released (`leaving` / removed) source may drop. Idempotent.
 */
export const DropRequestSchema = z.object({
  epoch,
  range: HashRangeSchema.optional(),
})

/** DropRequest is a validated drop request. */
export type DropRequest = z.infer<typeof DropRequestSchema>

/** DropResponseSchema: how many records were deleted (0 when already dropped). */
export const DropResponseSchema = z.object({
  shard: z.number().int().nonnegative(),
  epoch,
  deleted: z.number().int().nonnegative(),
})

/** DropResponse is a validated drop result. */
export type DropResponse = z.infer<typeof DropResponseSchema>

/** ShardStatusSchema: one shard as a node sees it, with its load. */
export const ShardStatusSchema = ShardLoadSchema.extend({
  epoch,
  role: z.enum(REPLICA_ROLES),
  inflight: z.number().int().nonnegative(),
})

/** NodeStatusResponseSchema: the node's view and load (`GET /v1/stats`). */
export const NodeStatusResponseSchema = z.object({
  node: z.string(),
  serving: z.boolean(),
  mapRevision: z.string(),
  shards: z.array(ShardStatusSchema),
  /**
   * storage: records and bytes stored; `reserve` (absent from a node built before it) is the
   * disk reserve: `held` bytes on disk now, `target` bytes it keeps when it can (0: off).
   * held < target means it was given up to free a full disk, or had no room yet.
   */
  storage: z.object({
    keys: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    reserve: z.object({held: z.number().int().nonnegative(), target: z.number().int().nonnegative()}).optional(),
  }),
})

/** NodeStatusResponse is a validated node status. */
export type NodeStatusResponse = z.infer<typeof NodeStatusResponseSchema>

/** HealthResponseSchema: `GET /healthz` (no token): serving is false while starting, draining or after a lost lease. */
export const HealthResponseSchema = z.object({
  node: z.string(),
  serving: z.boolean(),
  /** clock is the node's wall clock (ms) when it answered: peers measure their offset with it. */
  clock: z.number().optional(),
  /** clockOk is false while the node's clock is out of bounds of its peers (it then refuses writes); clockOffsetMs its offset from them. */
  clockOk: z.boolean().optional(),
  clockOffsetMs: z.number().nullable().optional(),
  /** instance is the random id of the answering process (as in its alive/<id>): tells a running node from a restarted one on the same address. */
  instance: z.string().optional(),
  /** stopping: the node is shutting down; it answers (and holds its lease) until its in-flight writes are done, then gives up alive/<id>. */
  stopping: z.boolean().optional(),
})

/** HealthResponse is a validated health answer. */
export type HealthResponse = z.infer<typeof HealthResponseSchema>

/** SnapshotChunk is one page of a range snapshot: records in (hash, key) order and the cursor resuming after them. */
export interface SnapshotChunk {
  epoch: number
  records: NodeRecord[]
  /** cursor resumes after the last record; undefined when the range is exhausted. */
  cursor: string | undefined
  /** bytes is the encoded size of the chunk body. */
  bytes: number
}

/** GetResult is what a node holds for a key: a record (value or tombstone) or nothing. */
export interface GetResult {
  epoch: number
  record: NodeRecord | undefined
}

/**
 * Node-to-node copy (added with the streaming copy; see copyFrames.ts and copyPuller.ts):
 *
 * | method | path | body → response |
 * | --- | --- | --- |
 * | GET | /v1/shards/{shard}/stream?epoch=E[&cursor][&frameBytes][&move=ID[&rate=B][&stream=S]] | → copy frames (source side; with `move`, paced at `rate` bytes/s by the source too) |
 * | POST | /v1/shards/{shard}/stream-rate | {@link StreamRateRequest} → {streams: n} (source side: the new rate of the move's open stream `stream`, or of all n of them) |
 * | POST | /v1/shards/{shard}/pull | {@link PullRequest} → {@link PullStatusResponse} (destination: start, resume or re-rate) |
 * | GET | /v1/shards/{shard}/pull | → {@link PullStatusResponse} |
 * | DELETE | /v1/shards/{shard}/pull[?move=ID] | → {@link PullStatusResponse} once the copy stopped |
 * | POST | /v1/throttle | {@link ThrottleRequest} → {@link ThrottleRequest} in force |
 */
const rate = z.number().positive().nullable()

/** PullRequestSchema: the executor asks a destination to pull a shard's records from `sources` at `epoch`. */
export const PullRequestSchema = z.object({
  moveId: z.string().min(1).max(200),
  epoch,
  sources: z.array(z.object({node: z.string().min(1).max(200), address: z.string().regex(/^[A-Za-z0-9.[\]:-]+:\d{1,5}$/, 'host:port')})).min(1).max(16),
  rate,
  frameBytes: z.number().int().min(4096).max(MAX_CHUNK_BYTES),
})

/** PullRequest is a validated {@link PullRequestSchema} body. */
export type PullRequest = z.infer<typeof PullRequestSchema>

/** PullStatusResponseSchema: a destination's report on a shard's copy (see PullStatus in copyPuller.ts). */
export const PullStatusResponseSchema = z.object({
  shard: z.number().int(),
  moveId: z.string().nullable(),
  epoch: z.number().int(),
  state: z.enum(['running', 'done', 'failed', 'cancelled', 'idle']),
  /** bytes: record-batch bytes received (what the throttles spend). */
  bytes: z.number().nonnegative(),
  /** dataBytes: key and value bytes applied (absent from a node that predates it). */
  dataBytes: z.number().nonnegative().optional(),
  /** passes, carriedDataBytes, prefixDataBytes: what the copy reads in all (see PullStatus in copyPuller.ts; absent from a node that predates them). */
  passes: z.number().int().min(1).optional(),
  carriedDataBytes: z.number().nonnegative().optional(),
  prefixDataBytes: z.number().nonnegative().optional(),
  keys: z.number().nonnegative(),
  cursor: z.string().nullable(),
  source: z.string().nullable(),
  rate: z.number().nullable(),
  error: z.string().nullable(),
  errorCode: z.string().nullable(),
  failedSource: z.string().nullable(),
})

/** PullStatusResponse is a validated {@link PullStatusResponseSchema}. */
export type PullStatusResponse = z.infer<typeof PullStatusResponseSchema>

/** StreamRateRequestSchema: a destination changes the rate (bytes/s; null: unlimited) at which a source sends it `move`'s copy stream (the one it opened as `stream`; absent: every stream of the move). */
export const StreamRateRequestSchema = z.object({move: z.string().min(1).max(200), rate, stream: z.string().min(1).max(100).optional()})

/** StreamRateRequest is a validated {@link StreamRateRequestSchema}. */
export type StreamRateRequest = z.infer<typeof StreamRateRequestSchema>

/** StreamRateResponseSchema: how many open streams took the new rate (0: none open now). */
export const StreamRateResponseSchema = z.object({streams: z.number().int().nonnegative()})

/** ThrottleRequestSchema: a node's copy rates (bytes/s; null: unlimited; a field left out keeps its rate). */
export const ThrottleRequestSchema = z.object({send: rate.optional(), receive: rate.optional()})

/** ThrottleRequest is a validated {@link ThrottleRequestSchema}. */
export type ThrottleRequest = z.infer<typeof ThrottleRequestSchema>
