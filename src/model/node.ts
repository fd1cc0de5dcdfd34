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
   * name it), so it is also kept in `datadirs/<id>` ({@link DataDirRecordSchema}).
   */
  dataDirId: z.string().min(1).max(64).optional(),
})

/**
 * DataDirRecordSchema: a `datadirs/<id>` value, the id of the data dir node `<id>` last
 * registered with, written by `node serve` in its claim's transaction together with the
 * record's `dataDirId`. A key of its own because no build that predates dir ids ever writes
 * it: one that rewrites `nodes/<id>` during a rolling upgrade drops the record's field, and
 * without this copy the next start took any dir, a new empty one too, while the node held
 * replicas (test/integration/node/dataDirIdentity.test.ts).
 */
export const DataDirRecordSchema = z.object({
  node: NodeIdSchema,
  dataDirId: z.string().min(1).max(64),
})

/** DataDirRecord is a validated `datadirs/<id>` value. */
export type DataDirRecord = z.infer<typeof DataDirRecordSchema>

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
