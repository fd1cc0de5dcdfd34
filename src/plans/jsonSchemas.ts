import {z} from 'zod'
import {PlanSchema} from '../model/plan.js'
import {ClusterSnapshotSchema} from '../model/snapshot.js'

/**
 * planJsonSchema is the published JSON Schema (draft 2020-12) of plan files, generated from
 * the zod schema that validates them, so the two cannot drift.
 */
export function planJsonSchema(): Record<string, unknown> {
  return {$id: 'https://shardctl.dev/schemas/plan.schema.json', title: 'shardctl plan', ...z.toJSONSchema(PlanSchema)}
}

/**
 * snapshotJsonSchema is the published JSON Schema of snapshot files, as accepted on input
 * (fields with defaults may be omitted). Cross-references (node ids, tiling) are checked by
 * shardctl beyond what JSON Schema expresses.
 */
export function snapshotJsonSchema(): Record<string, unknown> {
  return {$id: 'https://shardctl.dev/schemas/snapshot.schema.json', title: 'shardctl cluster snapshot', ...z.toJSONSchema(ClusterSnapshotSchema, {io: 'input'})}
}
