import {type HashRange} from '../model/range.js'
import {type ReplicaRole, type Shard} from '../model/shard.js'

/**
 * restoredDirRanges names the ranges whose old values a node must forget before it serves a
 * data dir it was let serve only by --accept-empty-data while holding replicas (a dir older
 * than what the node served — a restored backup, a snapshot rolled back — or another dir):
 * the ranges of its held shards that another replica (a voter or an outgoing one) also holds.
 *
 * Why: such a dir can hold a value V whose delete D every replica has since purged. The
 * other replicas then hold neither V nor D, and their gc floors drop V when repair or read
 * repair offers it, so V, served from this dir, is returned by every read quorum that
 * includes this node, for good (test/integration/node/restoredDirPurgedDelete.test.ts).
 * A purge cutoff is at most a replica's clock minus its grace minus twice the clock bound,
 * so every value this node holds from its clock minus its grace on is newer than any purged
 * delete's cutoff; the older ones are forgotten (StorageEngine.forgetValuesBefore) and the
 * live ones among them come back by repair from the replicas that hold them.
 *
 * A shard the node is `learning` (a move's destination being copied) is left to its copy:
 * one that starts afresh deletes the values below its source's gc floors before its first
 * frame (CopyPuller.adoptSourceFloors), one that resumes at a cursor this dir holds resumes a
 * copy this dir took after the move dropped the range, and forgetting values of that prefix
 * would leave it short of them (the floors the stream brings again drop their repair).
 *
 * A shard with no other voter or outgoing replica (rf 1, or rf 1 in a move before cutover,
 * whose destination may hold only part of the copy) is left alone: this dir is all there is
 * of it, and restoring an old copy at rf 1 brings back what was deleted since, as any
 * restored backup does. Pure.
 */
export function restoredDirRanges(nodeId: string, held: readonly {shard: Shard; role: ReplicaRole}[]): HashRange[] {
  const out: HashRange[] = []
  for (const {shard, role} of held) {
    if (role === 'learning') continue
    const others = shard.replicas.some((r) => r.node !== nodeId && (r.role === 'voter' || r.role === 'outgoing'))
    if (others) out.push({lo: shard.range.lo, hi: shard.range.hi})
  }
  return out
}
