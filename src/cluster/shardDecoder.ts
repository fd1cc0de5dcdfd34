import {HASH_SPACE} from '../model/hash.js'
import {REPLICA_ROLES, type Replica, type Shard, ShardSchema} from '../model/shard.js'
import {parseStoredValue, validateStored} from '../model/zodIssues.js'

/**
 * Decoding shard records fast, for the followers that hold the whole map (nodes, routers).
 * At 100k shards the zod schema run per record cost about three times the JSON parse, and
 * each record's replica list was its own few objects although a cluster has only a few
 * hundred distinct ones. Pure: no I/O.
 */

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
const ROLES: ReadonlySet<string> = new Set(REPLICA_ROLES)
/** MAX_INTERNED bounds the shared replica lists, so a map with ever-new lists cannot grow the cache without end. */
const MAX_INTERNED = 100_000

const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max

/**
 * fastShard returns the shard `json` holds when it certainly passes {@link ShardSchema}
 * (the same checks, written out), as a fresh object with only the schema's fields;
 * undefined when it does not, or might not: the caller then runs the schema itself, which
 * decides and names the problem. It never accepts what the schema rejects.
 */
export function fastShard(json: unknown): {id: number; range: {lo: number; hi: number}; epoch: number; replicas: {node: string; role: string}[]} | undefined {
  if (typeof json !== 'object' || json === null) return undefined
  const rec = json as {id?: unknown; range?: {lo?: unknown; hi?: unknown} | null; epoch?: unknown; replicas?: unknown}
  if (!isInt(rec.id, 0, Number.MAX_SAFE_INTEGER) || !isInt(rec.epoch, 1, Number.MAX_SAFE_INTEGER)) return undefined
  const range = rec.range
  if (typeof range !== 'object' || range === null || !isInt(range.lo, 0, HASH_SPACE - 1) || !isInt(range.hi, 1, HASH_SPACE) || range.lo >= range.hi) return undefined
  if (!Array.isArray(rec.replicas) || rec.replicas.length === 0) return undefined
  const replicas: {node: string; role: string}[] = []
  for (const r of rec.replicas as unknown[]) {
    if (typeof r !== 'object' || r === null) return undefined
    const {node, role} = r as {node?: unknown; role?: unknown}
    if (typeof node !== 'string' || !NODE_ID.test(node) || typeof role !== 'string' || !ROLES.has(role)) return undefined
    if (replicas.some((x) => x.node === node)) return undefined
    replicas.push({node, role})
  }
  return {id: rec.id, range: {lo: range.lo, hi: range.hi}, epoch: rec.epoch, replicas}
}

/**
 * ShardDecoder turns stored shard values into validated {@link Shard}s for a follower:
 * the checks of ShardSchema (through {@link fastShard}, falling back to the schema for its
 * one-line reason), with equal replica lists shared as one frozen array, so the map holds
 * each distinct list once. Frozen because it is shared: a caller that mutated a shard's
 * replicas would throw instead of silently changing other shards.
 */
export class ShardDecoder {
  private readonly interned = new Map<string, readonly Replica[]>()

  /** decode parses and validates one stored value; undefined (after telling `onInvalid` why) when it is not JSON or not a shard. */
  decode(key: string, value: string, onInvalid?: (key: string, message: string) => void): Shard | undefined {
    const parsed = parseStoredValue(key, value, onInvalid)
    if (!parsed) return undefined
    const fast = fastShard(parsed.json)
    const shard = fast ? (fast as Shard) : validateStored(key, parsed.json, ShardSchema, onInvalid)
    if (shard) shard.replicas = this.intern(shard.replicas) as Replica[]
    return shard
  }

  /** internedLists counts the distinct replica lists held (for tests and memory figures). */
  internedLists(): number {
    return this.interned.size
  }

  private intern(replicas: readonly Replica[]): readonly Replica[] {
    let k = ''
    for (const r of replicas) k += `${r.node}:${r.role},`
    const hit = this.interned.get(k)
    if (hit) return hit
    const frozen = Object.freeze(replicas.map((r) => Object.freeze({node: r.node, role: r.role})))
    if (this.interned.size < MAX_INTERNED) this.interned.set(k, frozen)
    return frozen
  }
}
