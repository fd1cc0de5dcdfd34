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

/** MAX_DIGITS bounds the integers {@link scanShard} reads: 15 digits stay below 2^53, so they are exact and safe. */
const MAX_DIGITS = 15
/** scanned is {@link uintAt}'s value, kept outside so reading a number allocates nothing. */
let scanned = 0

/**
 * uintAt reads a non-negative integer written the way JSON.stringify writes one (digits
 * only, no leading zero but "0" itself, at most MAX_DIGITS) at `i` of `s` into
 * {@link scanned}, and returns the index after it; -1 when there is none in that form.
 */
function uintAt(s: string, i: number): number {
  const start = i
  let v = 0
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) break
    v = v * 10 + (c - 48)
  }
  const n = i - start
  if (n === 0 || n > MAX_DIGITS || (n > 1 && s.charCodeAt(start) === 48)) return -1
  scanned = v
  return i
}

/** after returns the index past `lit` when `s` has it at `i`; -1 otherwise. */
function after(s: string, i: number, lit: string): number {
  return i >= 0 && s.startsWith(lit, i) ? i + lit.length : -1
}

/**
 * ScannedShard is a shard record read by {@link scanShard}: its numbers, checked as
 * ShardSchema checks them, and its replica list as the raw JSON text it was stored as.
 */
export interface ScannedShard {
  id: number
  lo: number
  hi: number
  epoch: number
  /** replicasFrom is where the text of the `replicas` value starts; it ends before the record's closing brace. */
  replicasFrom: number
}

/**
 * scanShard reads a stored shard value written exactly as JSON.stringify writes a Shard
 * (`{"id":…,"range":{"lo":…,"hi":…},"epoch":…,"replicas":[…]}`, no spaces, no other
 * fields), without building JSON objects: that is every record shardctl writes. Its id,
 * bounds and epoch pass ShardSchema's checks; the replica list is returned as text, still
 * to be checked. Undefined for anything else (other key order, spaces, big numbers,
 * extra fields, failed checks): the caller then parses the value as JSON and runs the
 * checks in full. Whenever it returns a result, the value is JSON with exactly those four
 * fields provided `replicasJson` is a JSON value (the caller finds out when parsing it).
 */
export function scanShard(s: string): ScannedShard | undefined {
  let i = uintAt(s, after(s, 0, '{"id":'))
  const id = scanned
  i = uintAt(s, after(s, i, ',"range":{"lo":'))
  const lo = scanned
  i = uintAt(s, after(s, i, ',"hi":'))
  const hi = scanned
  i = uintAt(s, after(s, i, '},"epoch":'))
  const epoch = scanned
  i = after(s, i, ',"replicas":')
  if (i < 0 || s.charCodeAt(i) !== 91 /* [ */ || s.charCodeAt(s.length - 1) !== 125 /* } */) return undefined
  if (epoch < 1 || hi < 1 || hi > HASH_SPACE || lo >= hi) return undefined
  return {id, lo, hi, epoch, replicasFrom: i}
}

/** textHash is a 32-bit FNV-1a hash of `s` from `from` up to `to` (exclusive), read in place. */
function textHash(s: string, from: number, to: number): number {
  let h = 0x811c9dc5
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
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
  /**
   * byText maps a replica list's stored JSON text, once checked, to its shared list: a
   * record in shardctl's own form ({@link scanShard}) with a known list needs no JSON
   * parse at all (at 100k shards the parse and its garbage were most of the decode). Keyed
   * by a hash of the text, read in place, and confirmed by comparing the text: slicing each
   * record's list out to use as the key cost more than the hash and the compare.
   */
  private readonly byText = new Map<number, {text: string; list: readonly Replica[]}[]>()
  private byTextSize = 0

  /** decode parses and validates one stored value; undefined (after telling `onInvalid` why) when it is not JSON or not a shard. */
  decode(key: string, value: string, onInvalid?: (key: string, message: string) => void): Shard | undefined {
    const scan = scanShard(value)
    const replicas = scan && this.replicasOf(value, scan.replicasFrom, value.length - 1)
    if (scan && replicas) return {id: scan.id, range: {lo: scan.lo, hi: scan.hi}, epoch: scan.epoch, replicas: replicas as Replica[]}
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

  /**
   * replicasOf is the shared list for a replica list's JSON text (`value` from `from` up to
   * `to`) when that text is a list
   * ShardSchema accepts (the same checks as {@link fastShard}); undefined when it is not
   * JSON or not such a list: the caller then takes the full path, which names the problem.
   */
  private replicasOf(value: string, from: number, to: number): readonly Replica[] | undefined {
    const hash = textHash(value, from, to)
    const bucket = this.byText.get(hash)
    if (bucket) for (const known of bucket) if (known.text.length === to - from && value.startsWith(known.text, from)) return known.list
    const text = value.slice(from, to)
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return undefined
    }
    // fastShard's replica checks, on a record whose other fields are known to pass them.
    const checked = fastShard({id: 0, range: {lo: 0, hi: 1}, epoch: 1, replicas: json})
    if (!checked) return undefined
    const list = this.intern(checked.replicas as Replica[])
    if (this.byTextSize < MAX_INTERNED) {
      this.byTextSize++
      if (bucket) bucket.push({text, list})
      else this.byText.set(hash, [{text, list}])
    }
    return list
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
