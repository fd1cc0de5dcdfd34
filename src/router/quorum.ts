import {majority} from '../model/majority.js'
import {type Shard} from '../model/shard.js'

/**
 * QuorumSettings are the operator's `--w` / `--r`; undefined means a majority of the
 * shard's voters (rf 3: w = r = 2; rf 1: w = r = 1). Values above the voter count are
 * clamped to it, so `--w 3` on an rf 1 cluster still works.
 */
export interface QuorumSettings {
  w?: number
  r?: number
}

/**
 * WriteQuorum is what a write of one shard must reach. `targets` are the replicas whose
 * answers the write awaits (voters, joining and outgoing; never leaving). `extras` are the
 * non-voting counted replicas (joining before cutover, outgoing after it). `learners` (a
 * move's destination while it is filled) are written too, but never awaited or counted:
 * their answers neither acknowledge, nor fail, nor re-issue a write, and they get no hints
 * (the move's verification carries over what they miss).
 */
export interface WriteQuorum {
  shard: number
  epoch: number
  targets: string[]
  voters: string[]
  extras: string[]
  learners: string[]
  w: number
}

/** writeQuorum derives the write requirement of `shard` under `settings`. */
export function writeQuorum(shard: Shard, settings: QuorumSettings = {}): WriteQuorum {
  const voters = shard.replicas.filter((r) => r.role === 'voter').map((r) => r.node)
  const extras = shard.replicas.filter((r) => r.role === 'joining' || r.role === 'outgoing').map((r) => r.node)
  const learners = shard.replicas.filter((r) => r.role === 'learning').map((r) => r.node)
  const w = clamp(settings.w ?? majority(voters.length), voters.length)
  return {shard: shard.id, epoch: shard.epoch, targets: [...voters, ...extras], voters, extras, learners, w}
}

/**
 * writeSatisfied tells whether the replicas in `acked` make a write durable under `q`.
 *
 * Without a move in flight: `w` voters acked. During a move the shard lists the voters
 * plus one non-voter (the destination while `joining`, the source while `outgoing`), and
 * the write must reach `w` of the old set O AND `w` of the new set N (a joint
 * quorum). The shard record does not say which voter is being replaced, so the
 * check assumes the worst: the replaced voter is one that acked. With k extras that is
 * `aV >= w` and `aV - min(k, aV) + aE >= w` (aV voters acked, aE extras acked); for one
 * move it is exactly "any w + 1 acks among the rf + 1 replicas, w of them voters", and
 * with rf 1 both the source and the destination must ack.
 */
export function writeSatisfied(q: WriteQuorum, acked: ReadonlySet<string>): boolean {
  let aV = 0
  let aE = 0
  for (const n of q.voters) if (acked.has(n)) aV++
  for (const n of q.extras) if (acked.has(n)) aE++
  if (q.w === 0 || aV < q.w) return false
  if (q.extras.length === 0) return true
  return aV - Math.min(q.extras.length, aV) + aE >= q.w
}

/**
 * writeStillPossible tells whether the write can still reach its quorum when every target
 * not in `failed` eventually acks: false means fail now instead of waiting for timeouts.
 */
export function writeStillPossible(q: WriteQuorum, failed: ReadonlySet<string>): boolean {
  return writeSatisfied(q, new Set(q.targets.filter((n) => !failed.has(n))))
}

/**
 * ReadPlan orders the voters a read asks: the first `r` are asked at once, the rest are
 * fallbacks asked one by one as earlier ones fail. Learning, joining, outgoing and leaving
 * replicas are never read.
 */
export interface ReadPlan {
  shard: number
  epoch: number
  order: string[]
  r: number
}

/**
 * readPlan derives the read of `shard`: `r` voters (clamped to the voter count), ordered
 * starting at `rotation` modulo the voter count, so successive reads spread over the
 * voters and every replica is read (and read-repaired) in turn.
 */
export function readPlan(shard: Shard, settings: QuorumSettings = {}, rotation = 0): ReadPlan {
  const voters = shard.replicas.filter((r) => r.role === 'voter').map((r) => r.node)
  const r = clamp(settings.r ?? majority(voters.length), voters.length)
  const n = voters.length
  const start = n === 0 ? 0 : ((rotation % n) + n) % n
  const order = n === 0 ? [] : [...voters.slice(start), ...voters.slice(0, start)]
  return {shard: shard.id, epoch: shard.epoch, order, r}
}

function clamp(x: number, max: number): number {
  if (!Number.isInteger(x) || x < 1) throw new RangeError(`a quorum must be a positive integer, got ${x}`)
  return Math.min(x, max)
}
