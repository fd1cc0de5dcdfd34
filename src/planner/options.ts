import {UserError} from '../errors/errors.js'
import {type PlanOptions, PlanOptionsSchema} from '../model/plan.js'
import {formatZodIssue} from '../model/zodIssues.js'

/**
 * DEFAULT_PLAN_OPTIONS: balance within 1.10 x the mean, no move or byte limit, and skip
 * moves worth less than a tenth of an average replica's load (`minImprovement` 0.1: a move
 * must take at least that much load out of the band, or lower the busier of its two nodes by
 * that much; a copy that does less is not worth its bytes). Scale-free: relative to a
 * replica, so 2,048 small shards balance like 20 big ones.
 */
export const DEFAULT_PLAN_OPTIONS: PlanOptions = {
  strategy: 'balance',
  maxImbalance: 1.1,
  maxMoves: null,
  maxBytes: null,
  minImprovement: 0.1,
  weights: {reads: 1, writes: 1, bytes: 1},
  drainOnly: false,
  allowSplit: false,
}

/** PlanOptionsInput: any subset of {@link PlanOptions}; omitted fields take the defaults. */
export type PlanOptionsInput = Partial<PlanOptions>

/** PlanMeta: what identifies a plan and is not derived from the snapshot (the planner reads no clock). */
export interface PlanMeta {
  id: string
  createdAt: string
}

/**
 * resolvePlanOptions fills defaults and validates. Throws UserError BAD_INPUT naming the
 * field (`maxImbalance: ...`) when a value is out of range, or when every weight is zero.
 */
export function resolvePlanOptions(input: PlanOptionsInput = {}): PlanOptions {
  const merged = {...DEFAULT_PLAN_OPTIONS, ...stripUndefined(input), weights: {...DEFAULT_PLAN_OPTIONS.weights, ...stripUndefined(input.weights ?? {})}}
  const parsed = PlanOptionsSchema.safeParse(merged)
  if (!parsed.success) throw new UserError('BAD_INPUT', `plan option ${formatZodIssue(parsed.error)}`, 'see `shardctl plan --help` for the allowed values')
  const w = parsed.data.weights
  if (w.reads + w.writes + w.bytes <= 0) throw new UserError('BAD_INPUT', 'plan option weights: at least one resource weight must be above 0', 'e.g. --weights reads=1,writes=1,bytes=1')
  return parsed.data
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
