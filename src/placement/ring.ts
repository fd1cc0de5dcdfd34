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
 * ring (the load-oblivious placement used by `cluster init` and the planner's `ring`
 * strategy). It walks the package's control points in its own typed arrays: the package's
 * lookup (an object keyed by position, and building it on 160,000 points) cost more than
 * the rest of a 1,000-node, 100k-shard ring plan. The package stays the reference: tests
 * compare every walk with its `get` ({@link packageWalk}).
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
      const nodePoints: number[] = []
      for (let i = 0; i < points; i++) {
        let p = stableHash(`${id}#${i}`) % RING_RANGE
        while (taken.has(p)) p = (p + 1) % RING_RANGE
        taken.add(p)
        nodePoints.push(p)
        // Position and owner in one sortable number: positions are below 2^29, ordinals below 2^20.
        all[k * points + i] = p * 2 ** 20 + k
      }
      this.nodePoints.set(id, nodePoints)
    })
    all.sort()
    this.points = Uint32Array.from(all, (x) => Math.floor(x / 2 ** 20))
    this.owner = Int32Array.from(all, (x) => x % 2 ** 20)
  }

  /** nodeCount is the number of nodes on the ring. */
  get nodeCount(): number {
    return this.zoneOf.size
  }

  /**
   * replicasFor returns `rf` distinct node ids for shard `shardId`, in ring order with
   * zone spreading: walking the ring clockwise from the shard's position, a node is taken
   * first if its zone is not yet used, then the remaining slots are filled in walk order.
   * Throws RangeError unless 1 <= rf <= nodeCount.
   */
  replicasFor(shardId: number, rf: number): string[] {
    if (!Number.isInteger(rf) || rf < 1 || rf > this.zoneOf.size) {
      throw new RangeError(`replication factor ${rf} needs 1..${this.zoneOf.size} nodes on the ring`)
    }
    const start = this.locate(ringPosition(shardId))
    const wantZones = Math.min(rf, this.zoneCount)
    // Walk a growing prefix of the ring until it holds enough distinct zones. The pick from
    // a prefix that suffices equals the pick from any longer one, so the start size only
    // affects speed: rf * wanted zones covers them most of the time in one walk.
    for (let count = Math.min(rf * wantZones, this.zoneOf.size); ; count = Math.min(count * 2, this.zoneOf.size)) {
      const picked = this.pick(this.walk(start, count), rf, wantZones)
      if (picked) return picked.map((k) => this.ids[k] ?? '')
      if (count >= this.zoneOf.size) {
        // Unreachable with consistent input: a full walk visits every node and every zone.
        throw new RangeError(`ring walk for shard ${shardId} found too few nodes`)
      }
    }
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
