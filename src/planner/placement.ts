import {UserError} from '../errors/errors.js'
import {EPOCH_STEPS} from '../model/plan.js'
import {type ClusterSnapshot} from '../model/snapshot.js'
import {type NodeModel, RES} from './nodeModel.js'

/** LOAD_WIDTH: per-slot and per-node load vectors are reads, writes, bytes, keys. */
export const LOAD_WIDTH = 4
/** KEYS_AT is the index of `keys` in a load vector. */
export const KEYS_AT = 3
/** BYTES_AT is the index of `bytes` in a load vector. */
export const BYTES_AT = 2

/**
 * PlacementData is everything moves and splits change, in one record so that a copy is one
 * structured clone and no field can be forgotten. Slot- and shard-indexed arrays have spare
 * room at the end (grown by doubling on splits); `slotCount` and `shardCount` say how much
 * is in use. A shard's slots are contiguous: [shardFirst[s], shardFirst[s] + shardWidth[s]).
 */
interface PlacementData {
  slotCount: number
  shardCount: number
  nextShardId: number
  slotShard: Int32Array
  slotNode: Int32Array
  /** slotPos[slot]: the slot's position in its node's list. */
  slotPos: Int32Array
  /** slotLoad[slot*LOAD_WIDTH+k]: the replica's reads, writes, bytes, keys. */
  slotLoad: Float64Array
  shardId: Float64Array
  shardEpoch: Float64Array
  shardLo: Float64Array
  shardHi: Float64Array
  /** shardFrozen[s]: 1 when the shard is mid-move (the executor's; the planner leaves it alone). */
  shardFrozen: Uint8Array
  shardFirst: Int32Array
  shardWidth: Int32Array
  /** shardSample: the key-hash samples of a shard's replicas merged and sorted (see ReplicaLoad.keySample); split pieces share their parent's. */
  shardSample: Map<number, readonly number[]>
  shardIndex: Map<number, number>
  /** nodeSlots[n]: the slots on node n, in an order moves keep deterministic (swap-remove, append). */
  nodeSlots: number[][]
  nodeLoad: Float64Array
  util: Float64Array
  /** pinned and forbidden hold `shardIndex * nodeCount + node`. */
  pinned: Set<number>
  forbidden: Set<number>
  pins: {shard: number; node: number}[]
}

/**
 * Placement is the mutable half of the planner's model: which node holds each replica
 * ("slot"), each replica's load, the shards' ranges and epochs, the constraints by shard, and
 * each node's load and utilisation, kept incrementally by {@link moveSlot} and
 * {@link splitShard} so that evaluating a move costs O(rf + resources), not O(cluster).
 * Read it through its accessors; {@link clone} copies it whole and shares the node model.
 */
export class Placement {
  private constructor(
    readonly model: NodeModel,
    private d: PlacementData,
  ) {}

  /**
   * read lays `snapshot`'s shards (in id order), replica loads and constraints out over the
   * nodes of `nodeIndex` and returns the load totals per resource (which the node model's
   * normalisation needs) and a function that completes the placement once the model exists.
   * Throws UserError BAD_INPUT when a replica names a node the snapshot does not list.
   */
  static read(snapshot: ClusterSnapshot, nodeIndex: ReadonlyMap<string, number>): {totals: Float64Array; over: (model: NodeModel) => Placement} {
    const d = readShards(snapshot, nodeIndex)
    const totals = new Float64Array(RES)
    for (let slot = 0; slot < d.slotCount; slot++) for (let r = 0; r < RES; r++) totals[r] = (totals[r] ?? 0) + (d.slotLoad[slot * LOAD_WIDTH + r] ?? 0)
    return {
      totals,
      over: (model) => {
        const placement = new Placement(model, d)
        for (let slot = 0; slot < d.slotCount; slot++) placement.addLoad(d.slotNode[slot] ?? 0, slot, 1)
        return placement
      },
    }
  }

  /** clone returns an independent copy sharing the (immutable) node model. */
  clone(): Placement {
    return new Placement(this.model, copyData(this.d))
  }

  get slotCount(): number {
    return this.d.slotCount
  }

  get shardCount(): number {
    return this.d.shardCount
  }

  get nextShardId(): number {
    return this.d.nextShardId
  }

  /** slotShard, slotNode, shardId, shardEpoch, shardLo, shardHi, shardFrozen: read-only views by index (valid until the next split). */
  get slotShard(): Int32Array {
    return this.d.slotShard
  }

  get slotNode(): Int32Array {
    return this.d.slotNode
  }

  get shardId(): Float64Array {
    return this.d.shardId
  }

  get shardEpoch(): Float64Array {
    return this.d.shardEpoch
  }

  get shardLo(): Float64Array {
    return this.d.shardLo
  }

  get shardHi(): Float64Array {
    return this.d.shardHi
  }

  get shardFrozen(): Uint8Array {
    return this.d.shardFrozen
  }

  /** util[n]: node n's utilisation now; the array is stable for the placement's life. */
  get util(): Float64Array {
    return this.d.util
  }

  get shardIndex(): ReadonlyMap<number, number> {
    return this.d.shardIndex
  }

  /** nodeSlots[n]: the slots on node n; callers must not mutate the lists. */
  get nodeSlots(): readonly (readonly number[])[] {
    return this.d.nodeSlots
  }

  /** pins lists the (shard index, node) pins, for the constraint phase. */
  get pins(): readonly {shard: number; node: number}[] {
    return this.d.pins
  }

  get hasForbids(): boolean {
    return this.d.forbidden.size > 0
  }

  /** slotsOf returns shard `s`'s slots as a new array. */
  slotsOf(s: number): number[] {
    const first = this.d.shardFirst[s] ?? 0
    const out: number[] = []
    for (let k = 0; k < (this.d.shardWidth[s] ?? 0); k++) out.push(first + k)
    return out
  }

  /** firstSlot and slotWidth give shard `s`'s contiguous slot range, for loops that must not allocate. */
  firstSlot(s: number): number {
    return this.d.shardFirst[s] ?? 0
  }

  slotWidth(s: number): number {
    return this.d.shardWidth[s] ?? 0
  }

  /** sampleOf is shard `s`'s merged key-hash sample, or undefined. */
  sampleOf(s: number): readonly number[] | undefined {
    return this.d.shardSample.get(s)
  }

  /** slotLoads is every slot's load, LOAD_WIDTH numbers per slot (see slotLoadAt): a read-only view for whole-cluster sums, valid until the next split. */
  get slotLoads(): Float64Array {
    return this.d.slotLoad
  }

  /** slotLoadAt is component `k` (reads, writes, bytes, keys) of slot `slot`'s load. */
  slotLoadAt(slot: number, k: number): number {
    return this.d.slotLoad[slot * LOAD_WIDTH + k] ?? 0
  }

  /** nodeLoadAt is component `k` (reads, writes, bytes, keys) of node `node`'s load now. */
  nodeLoadAt(node: number, k: number): number {
    return this.d.nodeLoad[node * LOAD_WIDTH + k] ?? 0
  }

  /** isPinned tells whether shard index `s` is pinned to `node`. */
  isPinned(s: number, node: number): boolean {
    return this.d.pinned.has(s * this.model.nodeCount + node)
  }

  /** isForbidden tells whether shard index `s` is forbidden on `node`. */
  isForbidden(s: number, node: number): boolean {
    return this.d.forbidden.has(s * this.model.nodeCount + node)
  }

  private addLoad(node: number, slot: number, sign: 1 | -1): void {
    const {nodeLoad, slotLoad, util} = this.d
    const factor = this.model.factor
    let du = 0
    for (let k = 0; k < LOAD_WIDTH; k++) nodeLoad[node * LOAD_WIDTH + k] = (nodeLoad[node * LOAD_WIDTH + k] ?? 0) + sign * (slotLoad[slot * LOAD_WIDTH + k] ?? 0)
    for (let r = 0; r < RES; r++) du += (factor[node * RES + r] ?? 0) * (slotLoad[slot * LOAD_WIDTH + r] ?? 0)
    util[node] = (util[node] ?? 0) + sign * du
  }

  /** moveSlot moves slot `slot`'s replica to node `to` and advances the shard's epoch as a move does. Callers check the placement rules first. */
  moveSlot(slot: number, to: number): void {
    const d = this.d
    const from = d.slotNode[slot] ?? 0
    this.addLoad(from, slot, -1)
    const list = d.nodeSlots[from] ?? []
    const pos = d.slotPos[slot] ?? 0
    const last = list.pop()
    if (last !== undefined && last !== slot) {
      list[pos] = last
      d.slotPos[last] = pos
    }
    const target = d.nodeSlots[to] ?? []
    d.slotNode[slot] = to
    d.slotPos[slot] = target.length
    target.push(slot)
    this.addLoad(to, slot, 1)
    const s = d.slotShard[slot] ?? 0
    d.shardEpoch[s] = (d.shardEpoch[s] ?? 0) + EPOCH_STEPS.move
  }

  /**
   * splitShard cuts shard index `s` at hash `at` into itself [lo, at) and a new shard
   * [at, hi) with the next shard id, same nodes. Each replica's reads and writes go
   * `below` to the lower piece and the rest to the upper one (the share of sampled requests
   * below `at`; 0.5 when unknown); bytes and keys are halved (no finer figure exists).
   * Returns the new shard's index. Node loads are unchanged.
   */
  splitShard(s: number, at: number, below = 0.5): number {
    const d = this.d
    const first = d.shardFirst[s] ?? 0
    const width = d.shardWidth[s] ?? 0
    ensureRoom(d, d.shardCount + 1, d.slotCount + width)
    const t = d.shardCount++
    const newId = d.nextShardId++
    d.shardIndex.set(newId, t)
    d.shardId[t] = newId
    d.shardEpoch[s] = (d.shardEpoch[s] ?? 0) + EPOCH_STEPS.split
    d.shardEpoch[t] = d.shardEpoch[s] ?? 0
    d.shardLo[t] = at
    d.shardHi[t] = d.shardHi[s] ?? 0
    d.shardHi[s] = at
    d.shardFrozen[t] = 0
    d.shardFirst[t] = d.slotCount
    d.shardWidth[t] = width
    const sample = d.shardSample.get(s)
    if (sample) d.shardSample.set(t, sample)
    for (let k = 0; k < width; k++) this.splitSlot(first + k, t, below)
    // Constraints name the shard; both halves inherit them.
    const n = this.model.nodeCount
    for (let node = 0; node < n; node++) {
      if (d.pinned.has(s * n + node)) {
        d.pinned.add(t * n + node)
        d.pins.push({shard: t, node})
      }
      if (d.forbidden.has(s * n + node)) d.forbidden.add(t * n + node)
    }
    return t
  }

  /** splitSlot appends the copy of `slot` that belongs to new shard `t`, sharing the load by `below`. */
  private splitSlot(slot: number, t: number, below: number): void {
    const d = this.d
    const node = d.slotNode[slot] ?? 0
    const copy = d.slotCount++
    d.slotShard[copy] = t
    d.slotNode[copy] = node
    for (let k = 0; k < LOAD_WIDTH; k++) {
      const share = k < BYTES_AT ? below : 0.5
      const whole = d.slotLoad[slot * LOAD_WIDTH + k] ?? 0
      d.slotLoad[slot * LOAD_WIDTH + k] = whole * share
      d.slotLoad[copy * LOAD_WIDTH + k] = whole - whole * share
    }
    const list = d.nodeSlots[node] ?? []
    d.slotPos[copy] = list.length
    list.push(copy)
  }
}

/**
 * copyData copies every field of a placement record by its kind (typed arrays, maps, sets,
 * lists of lists or of records, numbers), so a new field is copied without being listed;
 * much faster than structuredClone on large maps.
 */
function copyData(d: PlacementData): PlacementData {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(d)) out[key] = copyValue(value)
  return out as unknown as PlacementData
}

function copyValue(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return (value as Float64Array).slice()
  if (value instanceof Map) return new Map(value)
  if (value instanceof Set) return new Set(value)
  if (Array.isArray(value)) return value.map((x: unknown) => (Array.isArray(x) ? x.slice() : typeof x === 'object' && x !== null ? {...x} : x))
  if (typeof value === 'number') return value
  throw new Error(`placement field of unexpected kind: ${typeof value}`)
}

/** grow returns `array` with room for at least `needed` entries (doubling keeps a run of splits linear). */
function grow<T extends Int32Array | Float64Array | Uint8Array>(array: T, needed: number, width = 1): T {
  if (needed * width <= array.length) return array
  const grown = new (array.constructor as new (length: number) => T)(Math.max(needed * width, 2 * array.length))
  grown.set(array)
  return grown
}

function ensureRoom(d: PlacementData, shards: number, slots: number): void {
  d.slotShard = grow(d.slotShard, slots)
  d.slotNode = grow(d.slotNode, slots)
  d.slotPos = grow(d.slotPos, slots)
  d.slotLoad = grow(d.slotLoad, slots, LOAD_WIDTH)
  d.shardId = grow(d.shardId, shards)
  d.shardEpoch = grow(d.shardEpoch, shards)
  d.shardLo = grow(d.shardLo, shards)
  d.shardHi = grow(d.shardHi, shards)
  d.shardFrozen = grow(d.shardFrozen, shards)
  d.shardFirst = grow(d.shardFirst, shards)
  d.shardWidth = grow(d.shardWidth, shards)
}

/** readShards lays the snapshot's shards (sorted by id), replicas, loads and constraints out in arrays. */
function readShards(snapshot: ClusterSnapshot, nodeIndex: ReadonlyMap<string, number>): PlacementData {
  let sorted = true
  for (let i = 1; i < snapshot.shards.length && sorted; i++) sorted = (snapshot.shards[i - 1]?.id ?? 0) < (snapshot.shards[i]?.id ?? 0)
  const shards = sorted ? snapshot.shards : [...snapshot.shards].sort((a, b) => a.id - b.id)
  let replicas = 0
  for (const shard of shards) replicas += shard.replicas.length
  const d = emptyData(shards.length, replicas, nodeIndex.size, snapshot.cluster.nextShardId)
  for (const shard of shards) addShard(d, shard, nodeIndex)
  readLoads(d, snapshot.load, nodeIndex)
  readConstraints(d, snapshot.constraints, nodeIndex)
  return d
}

function emptyData(shards: number, slots: number, nodes: number, nextShardId: number): PlacementData {
  return {
    slotCount: 0,
    shardCount: 0,
    nextShardId,
    slotShard: new Int32Array(slots),
    slotNode: new Int32Array(slots),
    slotPos: new Int32Array(slots),
    slotLoad: new Float64Array(slots * LOAD_WIDTH),
    shardId: new Float64Array(shards),
    shardEpoch: new Float64Array(shards),
    shardLo: new Float64Array(shards),
    shardHi: new Float64Array(shards),
    shardFrozen: new Uint8Array(shards),
    shardFirst: new Int32Array(shards),
    shardWidth: new Int32Array(shards),
    shardSample: new Map(),
    shardIndex: new Map(),
    nodeSlots: Array.from({length: nodes}, () => []),
    nodeLoad: new Float64Array(nodes * LOAD_WIDTH),
    util: new Float64Array(nodes),
    pinned: new Set(),
    forbidden: new Set(),
    pins: [],
  }
}

function addShard(d: PlacementData, shard: ClusterSnapshot['shards'][number], nodeIndex: ReadonlyMap<string, number>): void {
  const s = d.shardCount++
  d.shardIndex.set(shard.id, s)
  d.shardId[s] = shard.id
  d.shardEpoch[s] = shard.epoch
  d.shardLo[s] = shard.range.lo
  d.shardHi[s] = shard.range.hi
  // A shard in the middle of a move is the executor's; the planner leaves it alone.
  d.shardFrozen[s] = shard.replicas.some((r) => r.role !== 'voter') ? 1 : 0
  d.shardFirst[s] = d.slotCount
  d.shardWidth[s] = shard.replicas.length
  for (const replica of shard.replicas) {
    const node = nodeIndex.get(replica.node)
    if (node === undefined) throw new UserError('BAD_INPUT', `shard ${shard.id} has a replica on node "${replica.node}", which the snapshot does not list`, 'export the snapshot again')
    const slot = d.slotCount++
    const list = d.nodeSlots[node] ?? []
    d.slotShard[slot] = s
    d.slotNode[slot] = node
    d.slotPos[slot] = list.length
    list.push(slot)
  }
}

/** readLoads copies each replica's published load; replicas without stats get the mean of their shard's reporting replicas. */
function readLoads(d: PlacementData, loads: ClusterSnapshot['load'], nodeIndex: ReadonlyMap<string, number>): void {
  const known = new Uint8Array(d.slotCount)
  for (const l of loads) {
    const s = d.shardIndex.get(l.shard)
    const node = nodeIndex.get(l.node)
    if (s === undefined || node === undefined) continue
    const first = d.shardFirst[s] ?? 0
    for (let slot = first; slot < first + (d.shardWidth[s] ?? 0); slot++) {
      if (d.slotNode[slot] !== node) continue
      const at = slot * LOAD_WIDTH
      d.slotLoad[at] = l.reads
      d.slotLoad[at + 1] = l.writes
      d.slotLoad[at + 2] = l.bytes
      d.slotLoad[at + 3] = l.keys
      known[slot] = 1
    }
    if (l.keySample && l.keySample.length > 0) d.shardSample.set(s, [...(d.shardSample.get(s) ?? []), ...l.keySample].sort((a, b) => a - b))
  }
  for (let s = 0; s < d.shardCount; s++) estimateMissing(d, s, known)
}

/** estimateMissing gives shard `s`'s replicas without published stats the mean of its reporting replicas (none reporting: all stay 0). */
function estimateMissing(d: PlacementData, s: number, known: Uint8Array): void {
  const first = d.shardFirst[s] ?? 0
  const width = d.shardWidth[s] ?? 0
  let reporting = 0
  for (let slot = first; slot < first + width; slot++) reporting += known[slot] ?? 0
  if (reporting === 0 || reporting === width) return
  for (let k = 0; k < LOAD_WIDTH; k++) {
    let sum = 0
    for (let slot = first; slot < first + width; slot++) if (known[slot]) sum += d.slotLoad[slot * LOAD_WIDTH + k] ?? 0
    for (let slot = first; slot < first + width; slot++) if (!known[slot]) d.slotLoad[slot * LOAD_WIDTH + k] = sum / reporting
  }
}

function readConstraints(d: PlacementData, constraints: ClusterSnapshot['constraints'], nodeIndex: ReadonlyMap<string, number>): void {
  const n = nodeIndex.size
  for (const c of constraints) {
    const s = d.shardIndex.get(c.shard)
    const node = nodeIndex.get(c.node)
    if (s === undefined || node === undefined) continue
    const key = s * n + node
    if (c.kind === 'pin') {
      if (!d.pinned.has(key)) d.pins.push({shard: s, node})
      d.pinned.add(key)
    } else {
      d.forbidden.add(key)
    }
  }
}
