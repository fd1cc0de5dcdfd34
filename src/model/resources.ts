import {parseBytes, parseDecimal, parseKeyValueList, parseNonNegativeNumber} from './units.js'

/**
 * RESOURCES are the load dimensions shardctl balances. Per replica: read and write ops/s
 * and bytes stored. Keys are reported but not balanced (they follow bytes).
 */
export const RESOURCES = ['reads', 'writes', 'bytes'] as const

/** Resource is one of {@link RESOURCES}. */
export type Resource = (typeof RESOURCES)[number]

/** Capacity is what one node can carry per resource; an absent resource means uniform (no limit of its own). */
export type Capacity = Partial<Record<Resource, number>>

/**
 * parseCapacity reads `reads=5000,writes=2000,bytes=100GiB` (any subset). Bytes accept
 * size units. Throws RangeError naming the bad part; capacities must be > 0.
 */
export function parseCapacity(input: string): Capacity {
  return parseKeyValueList(input, RESOURCES, (key, raw) => {
    // One rule in one message: a refusal of -5 that said ">= 0" sent the operator to try 0, refused next.
    const v = key === 'bytes' ? parseBytes(raw) : parseDecimal(raw)
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`capacity ${key} must be a number > 0, got "${raw}"`)
    return v
  })
}

/** parseWeights reads `reads=1,writes=2,bytes=0.5`; omitted resources keep weight 1. */
export function parseWeights(input: string): Record<Resource, number> {
  const given = parseKeyValueList(input, RESOURCES, (key, raw) => parseNonNegativeNumber(raw, `weight ${key}`))
  return {reads: given.reads ?? 1, writes: given.writes ?? 1, bytes: given.bytes ?? 1}
}
