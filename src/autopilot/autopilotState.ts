import {z} from 'zod'

/**
 * autopilotKeys are the autopilot's etcd keys under the cluster prefix: `autopilot/lock`
 * (the leader's leased election key; every write of the leader compares its create
 * revision), `autopilot/state` (its memory and last decisions, written by the leader only)
 * and `autopilot/control` (the pause switch, written by `autopilot pause|resume`).
 */
export function autopilotKeys(prefix: string) {
  return {
    lock: `${prefix}autopilot/lock`,
    state: `${prefix}autopilot/state`,
    control: `${prefix}autopilot/control`,
  }
}

/** AutopilotKeys is the key set {@link autopilotKeys} returns. */
export type AutopilotKeys = ReturnType<typeof autopilotKeys>

/** DECISION_KINDS: what one reconcile step chose; `heal`, `rebalance` and `resume` run moves. */
export const DECISION_KINDS = ['idle', 'wait', 'resume', 'heal', 'rebalance'] as const

/** DecisionKind is one of {@link DECISION_KINDS}. */
export type DecisionKind = (typeof DECISION_KINDS)[number]

/** DecisionRecordSchema: one decision as `autopilot status` shows it. */
export const DecisionRecordSchema = z.object({
  at: z.string(),
  kind: z.enum(DECISION_KINDS),
  reason: z.string(),
  plan: z.string().nullable(),
  /** outcome is what running it gave (`3 done`, `dry run: plan written`), null until known. */
  outcome: z.string().nullable(),
})

/** DecisionRecord is one recorded decision. */
export type DecisionRecord = z.infer<typeof DecisionRecordSchema>

/**
 * AutopilotHistorySchema: what the leader remembers across ticks and hands to its successor,
 * all times in epoch milliseconds: since when each node is seen down, since when the
 * imbalance is above the high-water mark, when each shard last moved (cool-down), and the
 * bytes of the plans started in the last hour (budget).
 */
export const AutopilotHistorySchema = z.object({
  downSince: z.record(z.string(), z.number()),
  aboveSince: z.number().nullable(),
  movedAt: z.record(z.string(), z.number()),
  spent: z.array(z.object({at: z.number(), bytes: z.number().nonnegative()})),
})

/** AutopilotHistory is the autopilot's memory (see {@link AutopilotHistorySchema}). */
export type AutopilotHistory = z.infer<typeof AutopilotHistorySchema>

/** EMPTY_HISTORY is a new leader's memory when no state was recorded yet. */
export const EMPTY_HISTORY: AutopilotHistory = {downSince: {}, aboveSince: null, movedAt: {}, spent: []}

/** AutopilotStateSchema: the `autopilot/state` value. */
export const AutopilotStateSchema = z.object({
  leader: z.string(),
  leaderSince: z.string(),
  updatedAt: z.string(),
  nextCheckAt: z.string().nullable(),
  dryRun: z.boolean(),
  underReplicated: z.number().int().nonnegative(),
  history: AutopilotHistorySchema,
  decisions: z.array(DecisionRecordSchema),
})

/** AutopilotState is a validated `autopilot/state` value. */
export type AutopilotState = z.infer<typeof AutopilotStateSchema>

/** AutopilotControlSchema: the `autopilot/control` value (the pause switch). */
export const AutopilotControlSchema = z.object({paused: z.boolean(), updatedAt: z.string()})

/** AutopilotControl is a validated `autopilot/control` value. */
export type AutopilotControl = z.infer<typeof AutopilotControlSchema>

/** MAX_DECISIONS bounds the decisions kept in `autopilot/state` (newest last). */
export const MAX_DECISIONS = 20
