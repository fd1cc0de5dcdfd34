import {errorMessage} from '../errors/errors.js'
import {type Move} from '../model/move.js'
import {type NodeClient} from '../node/nodeClient.js'
import {type Shard} from '../model/shard.js'
import {type ExecutorEnv} from './executorEnv.js'
import {syncReplicas} from './replicaSync.js'
import {WaitingForNode} from './retryPolicy.js'

/** ACCEPT_TIMEOUT_MS bounds the copy's node's accept (it waits up to 1.5 s for its older writes, then answers NOT_SERVING: retried). */
const ACCEPT_TIMEOUT_MS = 2000

/** KeptCopyReader is the part of a node client a repair reads a kept copy through (syncReplicas' side `a`, one way). */
type KeptCopyReader = Pick<NodeClient, 'digest' | 'bucketRecords' | 'apply'>

/**
 * keptCopyReader reads `node`'s copy that move `moveId` keeps outside the shard's map: every
 * digest and bucket listing names the move (protocol.ts KEPT_FOR_PARAM), which the node checks
 * against the move record before answering. It writes nothing: a repair from it is one way
 * (into the voters), and an apply would be refused by the node anyway (it holds no role).
 */
export function keptCopyReader(client: KeptCopyReader, moveId: string): KeptCopyReader {
  return {
    digest: (shard, epoch, opts = {}) => client.digest(shard, epoch, {...opts, keptFor: moveId}),
    bucketRecords: (shard, epoch, buckets, opts = {}) => client.bucketRecords(shard, epoch, buckets, {...opts, keptFor: moveId}),
    apply: () => Promise.reject(new Error(`a kept copy is read, never written (move ${moveId})`)),
  }
}

/**
 * repairFromKeptCopy repairs each of `voters` (the shard's read voters that are up) from the
 * copy the move's destination keeps after it left the shard with the source down
 * (destinationCopyKeep.ts): every record the copy has that a voter lacks or holds older,
 * tombstones included, LWW (syncReplicas, one way: `into: 'b'`, apply kind `repair`, the merge
 * `shardctl repair` and a refill use). Then the copy holds nothing the voters up lack, and the
 * move may drop it (moveMachine.ts dropKeptCopy) without losing a write it alone held.
 *
 * One completed round per voter is enough: the copy takes no writes (its node holds no role in
 * the shard, so every write to it is refused), so a bucket that was equal in one of the round's
 * digest looks had every record of the copy on the voter then (or a newer version, which LWW
 * keeps), and every bucket that differed in all looks was listed on both sides in full and its
 * fixes applied (durable when apply returns). Rounds until equal would never end where a voter
 * refuses a value below its gc floor (a delete of it purged there since: dropped on purpose,
 * never resurrected, so it keeps differing); a second look would prove nothing more.
 * Tombstones: the digests are compared at a tombstone cutoff both sides agree on, and an expired
 * winning tombstone still goes to a voter holding an older value (planRepair). A tombstone the
 * copy purged before (a gc round while it was a voter, or its adopted source floors) is absent
 * from it, so nothing older of that key is pushed either: the copy never offers a record it does
 * not hold.
 *
 * Before any read the copy's node accepts the shard's epoch, so no write it let in before it left the map is still
 * committing there (see the first step below).
 *
 * Any trouble (a node unreachable, the copy's node refusing: down, a build without kept-copy
 * reads, the move record moved on) is a wait for a node, never a counted failure: an `aborting`
 * move that fails is `failed`, finished, and its node's orphan sweep would then remove the copy.
 */
export async function repairFromKeptCopy(env: ExecutorEnv, move: Move, shard: Shard, voters: readonly string[]): Promise<number> {
  let repaired = 0
  try {
    const node = await env.client(move.to)
    // First the copy's node accepts the shard's epoch (the map without it): a node answers only once every write it let in
    // at an older epoch has finished (nodeHttpApi.ts accept, fencedWrites.ts), and refuses them from then on. A write of a
    // router still on the map with the destination (no barrier follows its removal), acknowledged by the source and the
    // destination alone at w = 1, may still be committing there when the copy is read: it would land after the repair's
    // look and be on the source alone once the copy is dropped, lost should the source then die for good (the case the
    // repair with the source up is for). Until session 41's hunt the copy was read at once.
    await node.accept(shard.id, shard.epoch, {timeoutMs: ACCEPT_TIMEOUT_MS})
    const copy = keptCopyReader(node, move.id)
    for (const voter of voters) {
      const into = await env.client(voter)
      // `since` only sorts what was repaired into fresh and older (unused here): 0.
      const res = await syncReplicas(copy as NodeClient, into, move.shard, shard.epoch, 0, env.now(), {into: 'b'})
      repaired += res.repaired
    }
  } catch (err) {
    throw new WaitingForNode(
      'NODE_UNREACHABLE',
      `move ${move.id}: repairing ${voters.join(', ')} from ${move.to}'s kept copy of shard ${move.shard} failed: ${errorMessage(err)}`,
      `the move keeps the copy and tries again; check that ${[move.to, ...voters].join(', ')} are up (\`shardctl node list\`)`,
    )
  }
  return repaired
}
