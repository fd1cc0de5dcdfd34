/**
 * The planner's public surface: a pure `(ClusterSnapshot, options, meta) -> Plan` function
 * and the pure helpers around plans. Everything else in this folder is internal.
 */
export {applyPlan} from './applyPlan.js'
export {type ActionCheck, checkPlanActions} from './checkPlan.js'
export {DEFAULT_PLAN_OPTIONS, type PlanMeta, type PlanOptionsInput, resolvePlanOptions} from './options.js'
export {type PlanComputeOptions, planRebalance} from './planRebalance.js'
export {renderPlanMarkdown} from './render/planMarkdown.js'
export {renderPlanText} from './render/planText.js'
export {type NodeUtilisation, snapshotUtilisation, type SnapshotUtilisation} from './snapshotUtilisation.js'
