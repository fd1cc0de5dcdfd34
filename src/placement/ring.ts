import ConsistentHash from 'consistent-hash'
import {murmur3} from '../model/hash.js'

/** RingNode is a node the ring may place replicas on. */
export interface RingNode {
  id: string
  zone: string
}

/**
 * RING_RANGE is the size of the ring. The package hashes a name to `(pjw24(name) << 5) %
 * range`, which is below 2^29, so a range just under 2^29 keeps every position reachable
 * while leaving room for hundreds of thousands of control points with few collisions.
 */
const RING_RANGE = 2 ** 29 - 3

/** DEFAULT_POINTS_PER_NODE: more points give a more even share per node (spread ~ 1/sqrt(points)). */
const DEFAULT_POINTS_PER_NODE = 160

const encoder = new TextEncoder()
const asciiBuffer = new Uint8Array(256)

/**
 * stableHash is murmur3 of a string's UTF-8 bytes; the same in every process, unlike the
 * package's random points. ASCII strings (all node ids) skip the encoder: same bytes, and
 * ring building hashes hundreds of thousands of them.
 */
function stableHash(text: string): number {
  if (text.length <= asciiBuffer.length) {
    let ascii = true
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c > 0x7f) {
        ascii = false
        break
      }
      asciiBuffer[i] = c
    }
    if (ascii) return murmur3(asciiBuffer.subarray(0, text.length))
  }
  return murmur3(encoder.encode(text))
}

/**
 * pointHash is {@link stableHash} of `<id>#<i>` (a control point's name) without building the
 * string: the id's bytes are laid out once per node and only the index's digits change. A
 * 1,000-node ring hashes 160,000 such names.
 */
function pointHash(idBytes: Uint8Array, i: number): number {
  const digits = String(i)
  const length = idBytes.length + 1 + digits.length
  const buffer = length <= pointBuffer.length ? pointBuffer : new Uint8Array(length)
  buffer.set(idBytes)
  buffer[idBytes.length] = 0x23 // '#'
  for (let d = 0; d < digits.length; d++) buffer[idBytes.length + 1 + d] = digits.charCodeAt(d)
  return murmur3(buffer.subarray(0, length))
}

const pointBuffer = new Uint8Array(512)

/**
 * ringHash24 is the 24-bit number a shard's ring name spells (see {@link ringName}): murmur3
 * of `shard/<id>`, top 24 bits.
 */
function ringHash24(shardId: number): number {
  return stableHash(`shard/${shardId}`) >>> 8
}

/**
 * ringName is the name handed to the package for a shard, built so the shard lands at a
 * uniformly spread position. The package hashes names with a 24-bit PJW hash, which spreads
 * short decimal strings badly (a 10-node ring gave one node 1.5x the mean). A name of six
 * characters with codes 0..15 hashes to exactly the number those nibbles spell (no bit
 * reaches the fold), so the shard sits at `32 * (murmur3 >>> 8)`: murmur3-uniform.
 * test/placement/ring.test.ts checks the resulting spread.
 */
function ringName(shardId: number): string {
  const h = ringHash24(shardId)
  let name = ''
  for (let shift = 20; shift >= 0; shift -= 4) name += String.fromCharCode((h >>> shift) & 0xf)
  return name
}

/** ringPosition is where the package locates {@link ringName}: its hash shifted left by 5, modulo the range. */
function ringPosition(shardId: number): number {
  return (ringHash24(shardId) << 5) % RING_RANGE
}

/**
 * PlacementRing maps a shard id to `rf` distinct nodes on the `consistent-hash` package's
 * ring (the load-oblivious placement). The control points are defined once, here, and feed
 * two walks that give the same nodes in the same order:
 *
 * - {@link replicasFor} asks the package (`get`): `cluster init` places with it, so the
 *   package is what defines a placement at run time;
 * - {@link replicaOrdinals} walks an index of the same points in typed arrays: the planner's
 *   `ring` strategy and its baseline use it, because the package's lookup (an object keyed
 *   by position, and building it on 160,000 points) cost more than the rest of a 1,000-node,
 *   100k-shard ring plan. test/placement/ring.test.ts pins the two walks to each other.
 *
 * Guarantees: the result depends only on the set of nodes (not their order), the shard id
 * and rf, so two processes agree; control points come from murmur3 of `<node id>#<i>`
 * (never Math.random). Replicas are distinct nodes; they cover min(rf, zone count) distinct
 * zones, so when there are at least rf zones no two replicas share a zone. Adding or
 * removing one node moves only the shards whose ring walk crosses that node's points.
 */
export class PlacementRing {
  /** ring is the package's ring over the same points, built on first use: the reference {@link packageWalk} answers from. */
  private ring: ConsistentHash<string> | undefined
  private readonly nodePoints = new Map<string, number[]>()
  private readonly zoneOf = new Map<string, string>()
  private readonly zoneCount: number
  /** ids[k] is node ordinal k's id (ids sorted); zoneOrdinal[k] its zone's ordinal. */
  private readonly ids: string[]
  private readonly ordinalOf = new Map<string, number>()
  private readonly zoneOrdinal: Int32Array
  /**
   * points and owner are the package's control points, sorted, with the ordinal of the node
   * owning each. The package's own walk looks every point up in an object keyed by position,
   * about 7 µs per shard on a 1,000-node ring; walking these typed arrays gives the same
   * nodes in the same order several times faster.
   */
  private readonly points: Uint32Array
  private readonly owner: Int32Array
  /** seen[k] === walkStamp marks node ordinal k as already in the current walk. */
  private readonly seen: Uint32Array
  private walkStamp = 0

  /**
   * PlacementRing builds the ring. Throws RangeError when `nodes` is empty, a node id
   * appears twice, or `pointsPerNode` is not a positive integer.
   */
  constructor(nodes: readonly RingNode[], options: {pointsPerNode?: number} = {}) {
    const points = options.pointsPerNode ?? DEFAULT_POINTS_PER_NODE
    if (!Number.isInteger(points) || points < 1) throw new RangeError(`pointsPerNode must be a positive integer, got ${points}`)
    if (nodes.length === 0) throw new RangeError('a placement ring needs at least one node')
    for (const n of nodes) {
      if (this.zoneOf.has(n.id)) throw new RangeError(`node "${n.id}" is listed twice`)
      this.zoneOf.set(n.id, n.zone)
    }
    const zoneNames = [...new Set(nodes.map((n) => n.zone))]
    this.zoneCount = zoneNames.length
    this.ids = [...this.zoneOf.keys()].sort()
    this.zoneOrdinal = Int32Array.from(this.ids, (id) => zoneNames.indexOf(this.zoneOf.get(id) ?? ''))
    this.seen = new Uint32Array(this.ids.length)
    // Sorted insertion plus linear probing on collisions makes every point unique and the
    // layout independent of the caller's node order (the package lets a later node shadow
    // an earlier one's point silently).
    const taken = new Set<number>()
    const all = new Float64Array(this.ids.length * points)
    this.ids.forEach((id, k) => {
      this.ordinalOf.set(id, k)
      const idBytes = encoder.encode(id)
      const nodePoints: number[] = []
      for (let i = 0; i < points; i++) {
        let p = pointHash(idBytes, i) % RING_RANGE
        while (taken.has(p)) p = (p + 1) % RING_RANGE
        taken.add(p)
        nodePoints.push(p)
        // Position and owner in one sortable number: positions are below 2^29, ordinals below 2^20.
        all[k * points + i] = p * 2 ** 20 + k
      }
      this.nodePoints.set(id, nodePoints)
    })
    all.sort()
    this.points = new Uint32Array(all.length)
    this.owner = new Int32Array(all.length)
    for (let j = 0; j < all.length; j++) {
      const x = all[j] ?? 0
      this.points[j] = Math.floor(x / 2 ** 20)
      this.owner[j] = x % 2 ** 20
    }
  }

  /** ordinalIds lists the node ids by ordinal (sorted): what {@link replicaOrdinals} numbers. */
  get ordinalIds(): readonly string[] {
    return this.ids
  }

  /** nodeCount is the number of nodes on the ring. */
  get nodeCount(): number {
    return this.zoneOf.size
  }

  /**
   * replicasFor returns `rf` distinct node ids for shard `shardId`, in ring order with
   * zone spreading: walking the ring clockwise from the shard's position, a node is taken
   * first if its zone is not yet used, then the remaining slots are filled in walk order.
   * The walk is the `consistent-hash` package's own (built on first use). Throws RangeError
   * unless 1 <= rf <= nodeCount.
   */
  replicasFor(shardId: number, rf: number): string[] {
    const walk = (count: number) => this.packageWalk(shardId, count).map((id) => this.ordinalOf.get(id) ?? 0)
    return this.place(shardId, rf, walk).map((k) => this.ids[k] ?? '')
  }

  /**
   * replicaOrdinals is {@link replicasFor} answered from the typed-array index of the same
   * points: the same nodes in the same order, as ordinals into {@link ordinalIds}. For
   * callers that place many shards (the planner). Throws RangeError unless 1 <= rf <= nodeCount.
   */
  replicaOrdinals(shardId: number, rf: number): number[] {
    if (rf <= this.zoneCount && Number.isInteger(rf) && rf >= 1) return this.distinctZones(this.locate(ringPosition(shardId)), rf)
    const start = this.locate(ringPosition(shardId))
    return this.place(shardId, rf, (count) => this.walk(start, count))
  }

  /**
   * place picks `rf` node ordinals for shard `shardId` from `walk` (the first `count` distinct
   * nodes clockwise), walking a growing prefix of the ring until it holds enough distinct
   * zones. The pick from a prefix that suffices equals the pick from any longer one, so the
   * start size only affects speed: rf * wanted zones covers them most of the time at once.
   */
  private place(shardId: number, rf: number, walk: (count: number) => number[]): number[] {
    if (!Number.isInteger(rf) || rf < 1 || rf > this.zoneOf.size) {
      throw new RangeError(`replication factor ${rf} needs 1..${this.zoneOf.size} nodes on the ring`)
    }
    const wantZones = Math.min(rf, this.zoneCount)
    for (let count = Math.min(rf * wantZones, this.zoneOf.size); ; count = Math.min(count * 2, this.zoneOf.size)) {
      const picked = this.pick(walk(count), rf, wantZones)
      if (picked) return picked
      if (count >= this.zoneOf.size) {
        // Unreachable with consistent input: a full walk visits every node and every zone.
        throw new RangeError(`ring walk for shard ${shardId} found too few nodes`)
      }
    }
  }

  /**
   * distinctZones is {@link pick} when rf <= the zone count, in one pass: the first node of
   * each of the first `rf` zones met clockwise from point index `start`, in walk order.
   */
  private distinctZones(start: number, rf: number): number[] {
    const out: number[] = []
    const stamp = ++this.walkStamp
    const total = this.points.length
    let zonesSeen = 0
    for (let step = 0; step < total && out.length < rf; step++) {
      const at = start + step < total ? start + step : start + step - total
      const k = this.owner[at] ?? 0
      if (this.seen[k] === stamp) continue
      this.seen[k] = stamp
      const zoneBit = this.zoneOrdinal[k] ?? 0
      if (zoneBit < 31 ? zonesSeen & (1 << zoneBit) : out.some((o) => this.zoneOrdinal[o] === zoneBit)) continue
      if (zoneBit < 31) zonesSeen |= 1 << zoneBit
      out.push(k)
    }
    return out
  }

  /**
   * packageWalk is the package's own answer for what {@link replicasFor} walks: the first
   * `count` distinct node ids clockwise from the shard's position. Kept so tests can check
   * that the fast walk agrees with the package.
   */
  packageWalk(shardId: number, count: number): string[] {
    if (!this.ring) {
      const ring = new ConsistentHash<string>({range: RING_RANGE})
      for (const [id, points] of this.nodePoints) ring.add(id, 0, points)
      this.ring = ring
    }
    return (this.ring.get(ringName(shardId), count) ?? []).filter((n): n is string => n !== undefined)
  }

  /** walkIds is what {@link replicasFor} walks: the first `count` distinct node ids clockwise from the shard's position, the same as {@link packageWalk}. */
  walkIds(shardId: number, count: number): string[] {
    return this.walk(this.locate(ringPosition(shardId)), count).map((k) => this.ids[k] ?? '')
  }

  /** locate is the index of the first point at or after `position`, wrapping to 0 (the package's search). */
  private locate(position: number): number {
    const points = this.points
    let lo = 0
    let hi = points.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((points[mid] ?? 0) < position) lo = mid + 1
      else hi = mid
    }
    return lo < points.length ? lo : 0
  }

  /** walk returns the ordinals of the first `count` distinct nodes from point index `start` on, wrapping once. */
  private walk(start: number, count: number): number[] {
    const out: number[] = []
    const stamp = ++this.walkStamp
    const total = this.points.length
    for (let step = 0; step < total && out.length < count; step++) {
      const at = start + step < total ? start + step : start + step - total
      const k = this.owner[at] ?? 0
      if (this.seen[k] === stamp) continue
      this.seen[k] = stamp
      out.push(k)
    }
    return out
  }

  /** pick takes rf node ordinals from `walk` covering `wantZones` zones, or undefined when the walk is too short. */
  private pick(walk: readonly number[], rf: number, wantZones: number): number[] | undefined {
    const zones: number[] = []
    const chosen = new Array<boolean>(walk.length).fill(false)
    let count = 0
    for (let i = 0; i < walk.length && zones.length < wantZones; i++) {
      const zone = this.zoneOrdinal[walk[i] ?? 0] ?? 0
      if (!zones.includes(zone)) {
        zones.push(zone)
        chosen[i] = true
        count++
      }
    }
    if (zones.length < wantZones) return undefined
    for (let i = 0; i < walk.length && count < rf; i++) {
      if (!chosen[i]) {
        chosen[i] = true
        count++
      }
    }
    if (count < rf) return undefined
    // Keep walk order so the first replica is the shard's "home" node on the ring.
    return walk.filter((_, i) => chosen[i])
  }
}
