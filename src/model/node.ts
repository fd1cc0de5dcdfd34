import {z} from 'zod'
import {AddressSchema, NodeIdSchema} from './ids.js'

/** CapacitySchema: per-resource limits of a node; an omitted resource means uniform capacity. */
export const CapacitySchema = z
  .object({
    reads: z.number().positive().finite().optional(),
    writes: z.number().positive().finite().optional(),
    bytes: z.number().positive().finite().optional(),
  })
  .strict()

/**
 * NODE_STATES: `active` takes new replicas; `cordoned` keeps its replicas but receives
 * none; `draining` must end with none (planner moves everything off).
 */
export const NODE_STATES = ['active', 'cordoned', 'draining'] as const

/** NodeSchema: a `nodes/<id>` value, the operator's record of a storage node. */
export const NodeSchema = z.object({
  id: NodeIdSchema,
  address: AddressSchema,
  zone: z.string().min(1).max(63).default('default'),
  capacity: CapacitySchema.default({}),
  state: z.enum(NODE_STATES).default('active'),
  createdAt: z.string(),
  /**
   * dataDirId is the id of the data dir the node last registered with (written by `node serve`
   * with its claim; absent: not started yet, or only by builds before session 32, and then
   * taken as it comes). A start on another dir while the node holds replicas is refused
   * (src/node/dataDirClaim.ts). Builds before session 32 drop it when they rewrite the record
   * (`node set`, `node cordon`, an autopilot marking the node draining: their schema does not
   * name it), so it is also kept in `claims/<id>` ({@link NodeClaimSchema}).
   */
  dataDirId: z.string().min(1).max(64).optional(),
})

/**
 * NodeClaimSchema: a `claims/<id>` value, the last process that registered node `<id>` from
 * start-up (its random `instance`, as in its alive/<id>) and the id of its data dir, written by
 * `node serve` in its claim's transaction (with the record's `dataDirId`); never leased, so it
 * outlives that process. Two uses:
 * - the data dir: no build that predates dir ids writes this key, while one that rewrites
 *   `nodes/<id>` during a rolling upgrade drops the record's field; without this copy the next
 *   start took any dir, a new empty one too, while the node held replicas
 *   (test/integration/node/dataDirIdentity.test.ts);
 * - the process: one re-registering after its lease lapsed is superseded when another instance
 *   claimed the id since, even if that process stopped and its alive/<id> is gone and the
 *   watch that would have shown its claim came back after etcd compacted it
 *   (test/integration/node/recoveryAfterCompaction.test.ts).
 */
export const NodeClaimSchema = z.object({
  node: NodeIdSchema,
  dataDirId: z.string().min(1).max(64),
  instance: z.string().min(1).max(64),
})

/** NodeClaim is a validated `claims/<id>` value. */
export type NodeClaim = z.infer<typeof NodeClaimSchema>

/**
 * NodeMarkSchema: a `marks/<id>` value, the write mark of data dir `dataDirId` as node `<id>`
 * last published it (never leased). A serving node raises the mark in its dir (meta
 * `writeMark`, committed and fsync'd) and only then publishes it, once per stats interval in
 * which it committed anything and before it answers a gc fence (so no tombstone is purged
 * while a copy of a replica's dir lacking it would be taken as current), so the dir's own mark is never below the published one. A dir
 * that starts below it is older than what the node already served: restored from a backup or
 * a snapshot, or its disk lost writes it had reported durable. It lacks writes the node may
 * have acknowledged, and is refused while the node holds replicas (src/node/dataDirClaim.ts).
 */
export const NodeMarkSchema = z.object({
  node: NodeIdSchema,
  dataDirId: z.string().min(1).max(64),
  mark: z.number().int().nonnegative(),
  /** at: when it was published (the node's clock, ISO 8601), for the refusal's message. */
  at: z.string(),
})

/** NodeMark is a validated `marks/<id>` value. */
export type NodeMark = z.infer<typeof NodeMarkSchema>

/** ClusterNode is a validated node record. */
export type ClusterNode = z.infer<typeof NodeSchema>

/** NodeState is one of {@link NODE_STATES}. */
export type NodeState = (typeof NODE_STATES)[number]

/** AliveSchema: the leased `alive/<id>` value a serving node keeps while it is up. */
export const AliveSchema = z.object({
  node: NodeIdSchema,
  address: AddressSchema,
  pid: z.number().int().positive(),
  startedAt: z.string(),
  /**
   * tombstoneGraceMs is the node's `--tombstone-grace` (absent: a build before it was
   * published). Anti-entropy purges tombstones only while every alive node publishes the
   * same one (src/repair/graceCheck.ts).
   */
  tombstoneGraceMs: z.number().int().nonnegative().optional(),
  /**
   * instance is a random id of the process (absent: an older build). A second process
   * started with the same --id probes the holder's /healthz and refuses to start while it
   * answers with this instance (src/node/identityClaim.ts).
   */
  instance: z.string().min(1).max(64).optional(),
  /** leaseTtlSeconds is the node's --lease-ttl: how long a starter waits for a silent holder's lease to lapse. */
  leaseTtlSeconds: z.number().int().positive().optional(),
})

/** Alive is a validated liveness record. */
export type Alive = z.infer<typeof AliveSchema>
