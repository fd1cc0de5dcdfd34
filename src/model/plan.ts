import {z} from 'zod'
import {canonicalJson, sha256Hex} from './canonicalJson.js'
import {ClusterNameSchema, NodeIdSchema, ShardIdSchema} from './ids.js'
import {NODE_STATES} from './node.js'
import {HashRangeSchema} from './shard.js'

/**
 * EPOCH_STEPS says how much an action raises a shard's epoch when it completes: a move
 * passes joining (E+1, the destination learning), the destination's promotion (E+2),
 * cutover (E+3), release (E+4) and cleanup (E+5, the source leaves the replica list); a
 * split is one metadata change. (Before destinations learned, a move took 4: a plan
 * computed then chains its later actions on a shard at epochs a move no longer reaches,
 * and those are skipped as stale.) See src/executor/moveMachine.ts.
 * A later action on the same shard in one plan records the epoch these steps predict, so
 * the executor's epoch check still holds when earlier actions went as planned.
 */
export const EPOCH_STEPS = {move: 5, split: 1} as const

/** PLAN_STRATEGIES: `balance` is load-aware; `ring` is the load-oblivious consistent-hash baseline. */
export const PLAN_STRATEGIES = ['balance', 'ring'] as const

/** PlanStrategy is one of {@link PLAN_STRATEGIES}. */
export type PlanStrategy = (typeof PLAN_STRATEGIES)[number]

/**
 * MOVE_REASONS say why an action exists, in the planner's goal order:
 * `drain` empties a draining node; `constraint` fixes a violated placement rule (zone
 * spread, forbidden node, missing pin, capacity exceeded); `balance` brings utilisation
 * within target; `ring` is a difference between the current and the ring placement.
 */
export const MOVE_REASONS = ['drain', 'constraint', 'balance', 'ring'] as const

/** MoveReasonKind is one of {@link MOVE_REASONS}. */
export type MoveReasonKind = (typeof MOVE_REASONS)[number]

/**
 * STOP_REASONS say why the planner stopped adding actions:
 * `within-target` every node is within the imbalance target; `no-improvement` no move
 * reduces the load above target by the minimum improvement; `max-moves` / `max-bytes` a
 * limit was reached; `unreachable` the target cannot be reached (hot shard, constraints);
 * `drain-only` only drains and constraint fixes were asked for; `ring-complete` the ring
 * placement was reached (every feasible difference is a move).
 */
export const STOP_REASONS = ['within-target', 'no-improvement', 'max-moves', 'max-bytes', 'unreachable', 'drain-only', 'ring-complete'] as const

/** StopReason is one of {@link STOP_REASONS}. */
export type StopReason = (typeof STOP_REASONS)[number]

/**
 * SHORT_STOPS are the stop reasons that are the operator's choice rather than the cluster's
 * limits: a move or byte limit, `--drain-only`, or the load-oblivious `ring` strategy. A plan
 * that ends outside the target for one of them stops short: another plan may reach it.
 */
export const SHORT_STOPS = ['max-moves', 'max-bytes', 'drain-only', 'ring-complete'] as const satisfies readonly StopReason[]

/** ShortStop is one of {@link SHORT_STOPS}. */
export type ShortStop = (typeof SHORT_STOPS)[number]

/**
 * PLAN_STATUSES, the verdict `plan --check` turns into an exit code: `balanced` the
 * cluster is within target as it is (and needs no drain or fix); `needs-rebalance` the
 * plan's actions reach the target (every node ends within the band, nothing unplaceable);
 * `unreachable` even after the plan it is not reached, whatever the reason: the rules or a
 * hot shard, or the plan stops short (see {@link shortStopOf}). Every strategy and limit
 * decides it the same way (src/planner/planRebalance.ts `planStatus`).
 */
export const PLAN_STATUSES = ['balanced', 'needs-rebalance', 'unreachable'] as const

/** PlanStatus is one of {@link PLAN_STATUSES}. */
export type PlanStatus = (typeof PLAN_STATUSES)[number]

const num = z.number().finite()
const nonNeg = z.number().finite().nonnegative()
const ResourceWeightsSchema = z.object({reads: nonNeg, writes: nonNeg, bytes: nonNeg}).strict()

/** PlanOptionsSchema: the normalised options a plan was computed with (every default filled in). */
export const PlanOptionsSchema = z
  .object({
    strategy: z.enum(PLAN_STRATEGIES),
    maxImbalance: num.min(1),
    maxMoves: z.number().int().nonnegative().nullable(),
    maxBytes: nonNeg.nullable(),
    minImprovement: nonNeg,
    weights: ResourceWeightsSchema,
    drainOnly: z.boolean(),
    allowSplit: z.boolean(),
  })
  .strict()

/** PlanOptions are normalised planner options; see src/planner/options.ts for their meaning. */
export type PlanOptions = z.infer<typeof PlanOptionsSchema>

/** MoveReasonSchema: why a move exists; `resource` names the resource a balance move relieves most. */
export const MoveReasonSchema = z
  .object({
    kind: z.enum(MOVE_REASONS),
    resource: z.enum(['reads', 'writes', 'bytes']).optional(),
    detail: z.string(),
  })
  .strict()

/** MoveReason is a validated move reason. */
export type MoveReason = z.infer<typeof MoveReasonSchema>

/**
 * MoveActionSchema: replace the replica of `shard` on `from` with one on `to`. `epoch` is
 * the shard's epoch the move was planned against (the executor skips the move when it
 * differs). `predicted` is each node's utilisation right after this action (1 = the
 * node's fair share of the cluster's load).
 */
export const MoveActionSchema = z
  .object({
    kind: z.literal('move'),
    shard: ShardIdSchema,
    epoch: z.number().int().min(1),
    from: NodeIdSchema,
    to: NodeIdSchema,
    bytes: nonNeg,
    keys: nonNeg,
    reason: MoveReasonSchema,
    predicted: z.object({source: nonNeg, target: nonNeg}).strict(),
  })
  .strict()

/** MoveAction is a validated move action. */
export type MoveAction = z.infer<typeof MoveActionSchema>

const SplitPartSchema = z.object({shard: ShardIdSchema, range: HashRangeSchema, epoch: z.number().int().min(1)}).strict()

/**
 * SplitActionSchema: cut `shard` (at `epoch`) at hash `at` into `parts`: the lower half
 * keeps the shard id, the upper half takes the new id; both get epoch + 1 and the same
 * replicas. Later moves of either half in the same plan name these ids and epochs. With key
 * samples the planner splits where the sampled load halves and predicts `loadBelow` of the
 * reads and writes for the lower part; without, at the range midpoint with half the load each.
 */
export const SplitActionSchema = z
  .object({
    kind: z.literal('split'),
    shard: ShardIdSchema,
    epoch: z.number().int().min(1),
    at: z.number().int().positive(),
    parts: z.tuple([SplitPartSchema, SplitPartSchema]),
    /** loadBelow: the share of the shard's reads and writes predicted for the lower part (from key samples); absent means half. */
    loadBelow: z.number().min(0).max(1).optional(),
    reason: z.object({kind: z.literal('split'), resource: z.enum(['reads', 'writes', 'bytes']).optional(), detail: z.string()}).strict(),
  })
  .strict()

/** SplitAction is a validated split action. */
export type SplitAction = z.infer<typeof SplitActionSchema>

/** PlanActionSchema: one step of a plan, applied in order. */
export const PlanActionSchema = z.discriminatedUnion('kind', [MoveActionSchema, SplitActionSchema])

/** PlanAction is a validated plan action. */
export type PlanAction = z.infer<typeof PlanActionSchema>

/** NodeLoadFiguresSchema: one node's load at one point: sums over its replicas, and utilisation. */
export const NodeLoadFiguresSchema = z
  .object({
    replicas: z.number().int().nonnegative(),
    reads: nonNeg,
    writes: nonNeg,
    bytes: nonNeg,
    keys: nonNeg,
    /** utilisation: weighted mean over resources of load ÷ the node's fair share (1 = cluster mean). */
    utilisation: nonNeg,
    /** perResource: load ÷ fair share for each resource (1 = cluster mean for that resource). */
    perResource: z.object({reads: nonNeg, writes: nonNeg, bytes: nonNeg}).strict(),
  })
  .strict()

/** NodeLoadFigures are validated per-node load figures. */
export type NodeLoadFigures = z.infer<typeof NodeLoadFiguresSchema>

/** PlanNodeSchema: a node's predicted load before and after the whole plan. */
export const PlanNodeSchema = z
  .object({
    id: NodeIdSchema,
    zone: z.string(),
    state: z.enum(NODE_STATES),
    alive: z.boolean(),
    before: NodeLoadFiguresSchema,
    after: NodeLoadFiguresSchema,
  })
  .strict()

/** PlanNode is a validated plan node entry. */
export type PlanNode = z.infer<typeof PlanNodeSchema>

/** BaselineFiguresSchema: what the `ring` strategy would do to the same snapshot, for comparison. */
export const BaselineFiguresSchema = z
  .object({
    strategy: z.literal('ring'),
    imbalanceAfter: nonNeg,
    moves: z.number().int().nonnegative(),
    bytesToMove: nonNeg,
    loadMoved: nonNeg,
  })
  .strict()

/** BaselineFigures are validated baseline figures. */
export type BaselineFigures = z.infer<typeof BaselineFiguresSchema>

/** HotShardSchema: a shard whose single replica carries more load than any node can absorb within target. */
export const HotShardSchema = z
  .object({
    shard: ShardIdSchema,
    node: NodeIdSchema,
    load: nonNeg,
    resource: z.enum(['reads', 'writes', 'bytes']),
    split: z.boolean(),
    /** hotKey: a single key (by hash) that drives `share` of the shard's sampled requests: no split can divide it. */
    hotKey: z.object({hash: z.number().int().min(0), share: z.number().min(0).max(1)}).strict().optional(),
  })
  .strict()

/**
 * UnplaceableSchema: a replica that must move (its node drains, or it breaks a placement
 * rule) but that no node can take under the rules; the plan leaves it where it is, plans
 * everything else, and says why here. `shard` is null when the cause is a node's stated
 * capacity that no single replica can relieve.
 */
export const UnplaceableSchema = z.object({shard: ShardIdSchema.nullable(), node: NodeIdSchema, reason: z.string().min(1)}).strict()

/** Unplaceable is one validated unplaceable entry. */
export type Unplaceable = z.infer<typeof UnplaceableSchema>

/**
 * PlanSummarySchema: the plan's verdict and figures. Imbalance is the largest node
 * utilisation among nodes that will hold data (not draining), 1 being perfectly even.
 * `loadMoved` and `loadOutsideTarget` are in "average node" units (1 = an average node's
 * whole load). `loadOutsideTarget` is the lower bound of what any plan reaching the target
 * must move: all load on draining nodes plus the load above the band, or the shortfall
 * below it when that is larger. `unplaceable` (absent in plans made before it existed) lists
 * the replicas that had to move and could not; any makes the status `unreachable`.
 */
export const PlanSummarySchema = z
  .object({
    status: z.enum(PLAN_STATUSES),
    stopReason: z.enum(STOP_REASONS),
    stopDetail: z.string(),
    target: num.min(1),
    imbalanceBefore: nonNeg,
    imbalanceAfter: nonNeg,
    moves: z.number().int().nonnegative(),
    splits: z.number().int().nonnegative(),
    bytesToMove: nonNeg,
    keysToMove: nonNeg,
    loadMoved: nonNeg,
    loadOutsideTarget: nonNeg,
    hotShards: z.array(HotShardSchema),
    unplaceable: z.array(UnplaceableSchema).optional(),
    baseline: BaselineFiguresSchema.nullable(),
  })
  .strict()

/** PlanSummary is a validated plan summary. */
export type PlanSummary = z.infer<typeof PlanSummarySchema>

/**
 * shortStopOf returns why a plan stops short of its target when it does only because it
 * stopped by the operator's choice (a {@link SHORT_STOPS} reason: `--max-moves`,
 * `--max-bytes`, `--drain-only`, the `ring` strategy) with nothing unplaceable, and null
 * otherwise. Such a plan's status is `unreachable`, yet applying it and planning again, or
 * planning without the limit, may reach the target; renderers and `plan --check` say so
 * instead of claiming the target is out of reach.
 */
export function shortStopOf(summary: Pick<PlanSummary, 'status' | 'stopReason' | 'unplaceable'>): ShortStop | null {
  if (summary.status !== 'unreachable' || (summary.unplaceable ?? []).length > 0) return null
  return SHORT_STOPS.find((reason) => reason === summary.stopReason) ?? null
}

const PlanBodyShape = {
  version: z.literal(1),
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'plan id must be 1-128 characters of letters, digits, "_", "." or "-"'),
  createdAt: z.string().min(1),
  cluster: ClusterNameSchema,
  rf: z.number().int().min(1),
  createdFrom: z
    .object({
      revision: z.string().regex(/^\d+$/, 'revision must be a decimal etcd revision'),
      fingerprint: z.string().regex(/^[0-9a-f]{64}$/, 'fingerprint must be a sha256 hex digest'),
      /**
       * uid: the incarnation of the cluster the plan was made from (its meta's `uid`, new on every
       * `cluster init`, `--force` too). `apply` and `plan verify` refuse the plan on a cluster of
       * another uid: after a re-init (epochs start again at 1) or on another cluster of the same
       * name, its actions' epoch checks would pass. Absent in plans of clusters without a uid.
       */
      uid: z
        .string()
        .regex(/^[A-Za-z0-9-]{8,64}$/)
        .optional(),
    })
    .strict(),
  options: PlanOptionsSchema,
  actions: z.array(PlanActionSchema),
  nodes: z.array(PlanNodeSchema),
  summary: PlanSummarySchema,
}

/** PlanBodySchema: a plan without its hash (what {@link sealPlan} hashes). */
export const PlanBodySchema = z.object(PlanBodyShape).strict()

/** PlanBody is a plan before sealing. */
export type PlanBody = z.infer<typeof PlanBodySchema>

/**
 * PlanSignatureSchema: an Ed25519 signature over the plan's `hash` (so it covers every
 * field the hash covers), by the key whose id is `keyId` (first 16 hex digits of the
 * sha256 of its SPKI DER public key). Outside the hash itself: see src/plans/signing.ts.
 */
export const PlanSignatureSchema = z
  .object({
    alg: z.literal('ed25519'),
    keyId: z.string().regex(/^[0-9a-f]{16}$/, 'keyId must be 16 hex digits'),
    value: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'value must be a base64 Ed25519 signature (64 bytes)'),
  })
  .strict()

/** PlanSignature is a validated plan signature. */
export type PlanSignature = z.infer<typeof PlanSignatureSchema>

/**
 * PlanSchema: a plan file. Strict at every level, so an added field is a validation error
 * rather than silently dropped (it would otherwise escape the hash check). `hash` is the
 * sha256 of the canonical JSON of every other field ({@link hashPlan}) except the optional
 * `signature` (which signs the hash).
 */
export const PlanSchema = z
  .object({...PlanBodyShape, hash: z.string().regex(/^[0-9a-f]{64}$/, 'hash must be a sha256 hex digest'), signature: PlanSignatureSchema.optional()})
  .strict()

/** Plan is a validated, sealed plan. */
export type Plan = z.infer<typeof PlanSchema>

/**
 * canonicalPlanJson returns exactly {@link canonicalJson}'s text (keys sorted at every
 * level, no whitespace; throws TypeError on non-finite numbers) but lets the native
 * JSON.stringify walk the value, re-ordering only objects whose keys are not already sorted.
 * The planner builds its objects with sorted keys, so hashing a 30,000-action plan takes a
 * fraction of the recursive serialiser's time. test/model/plan.test.ts checks the equality.
 */
export function canonicalPlanJson(value: unknown): string {
  try {
    return JSON.stringify(value, sortKeys)
  } catch (e) {
    if (e === INDEX_KEYS) return canonicalJson(value)
    throw e
  }
}

/** INDEX_KEYS: JS iterates integer-like keys first whatever the insertion order, so such objects take the slow path. */
const INDEX_KEYS = new Error('object with integer-like keys')

function sortKeys(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError(`cannot serialise ${v} as JSON`)
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
  const keys = Object.keys(v)
  let sorted = true
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      sorted = false
      break
    }
  }
  if (sorted) return v
  // A null prototype, so a key named "__proto__" stays an own property (as in canonicalJson) instead of setting the prototype.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  for (const k of keys.sort()) {
    if (/^(0|[1-9]\d*)$/.test(k)) throw INDEX_KEYS
    out[k] = (v as Record<string, unknown>)[k]
  }
  return out
}

/**
 * hashPlan returns the sha256 hex of the canonical JSON (see {@link canonicalJson}) of `plan`
 * without its `hash` and `signature` fields (the signature signs the hash, so it cannot be in it).
 */
export function hashPlan(plan: PlanBody | Plan): string {
  const {hash: _ignored, signature: _signature, ...body} = plan as Plan
  return sha256Hex(canonicalPlanJson(body))
}

/** sealPlan returns `body` with its `hash` set (and no signature: sealing makes a new, unsigned plan); pure, so equal bodies seal to equal plans. */
export function sealPlan(body: PlanBody): Plan {
  const {hash: _stale, signature: _unsigned, ...clean} = body as PlanBody & {hash?: string; signature?: unknown}
  return {...clean, hash: hashPlan(clean)}
}

/** verifyPlanHash tells whether `plan.hash` matches its body (false for a tampered plan). */
export function verifyPlanHash(plan: Plan): boolean {
  return hashPlan(plan) === plan.hash
}
