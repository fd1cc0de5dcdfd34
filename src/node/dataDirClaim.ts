import {type ReplicaRole} from '../model/shard.js'

/**
 * dataDirClaim decides whether a starting node may serve its node id from the data dir it was
 * given. A replica must never forget a write it acknowledged: quorum intersection (a read of
 * r replicas meets every write acknowledged by w, r + w > rf) assumes it. A node id that holds
 * replicas, started on a new, empty data dir (a replaced disk, a mistyped --data-dir, a
 * container that lost its volume), would answer for those replicas with none of their data
 * and count in read and write quorums: at rf 3, w 2, r 2 a write acknowledged by {n1, n2} is
 * not found by a read {n1, n3} answers, and at rf 1 it is simply gone.
 *
 * So every data dir has a random id (made when it is first opened: StorageEngine.dataDirId),
 * the node record names the dir the node last registered with, and a start on another dir is
 * refused while the shard map places any replica on the node id. A node holding none (new,
 * drained, or one whose replicas were moved off from their surviving copies) may take a new
 * dir, which is then recorded.
 *
 * Pure: the reads (node record, shard map) and the refusal are in dataDirGuard.ts.
 */

/**
 * DirMatch compares the dir id the node record names (`recorded`) with this dir's (`local`,
 * undefined: the dir does not exist yet, so it is new): `same`, `unrecorded` (the record names
 * none: the node never registered, or only builds before dir ids did, so there is nothing to
 * hold it to and the record gets this one), `other`, or `behind`: the same dir id, but the
 * dir's write mark is below the one the node published for it (see {@link DirMarks}).
 */
export type DirMatch = 'same' | 'unrecorded' | 'other' | 'behind'

/**
 * DirMarks are the write marks {@link matchDataDir} compares: `local`, this dir's own (0 when
 * none was ever raised in it), and `published`, the last `marks/<id>` (undefined: none, or a
 * build before marks), with the dir id it was published for. A serving node raises its dir's
 * mark (committed and fsync'd) before it publishes it, so an intact dir is never behind; one
 * that is was copied back from before the node served its later writes (a backup, a VM or
 * volume snapshot) or lost writes its disk had reported durable.
 */
export interface DirMarks {
  local: number
  published: {dataDirId: string; mark: number; at: string} | undefined
}

/** matchDataDir: see {@link DirMatch}. A mark published for another dir id says nothing of this one. */
export function matchDataDir(recorded: string | undefined, local: string | undefined, marks?: DirMarks): DirMatch {
  if (recorded === undefined) return 'unrecorded'
  if (recorded !== local) return 'other'
  const published = marks?.published
  return published && published.dataDirId === local && marks.local < published.mark ? 'behind' : 'same'
}

/** HeldReplicas counts the shards the shard map places a replica of on the node, by role. */
export interface HeldReplicas {
  shards: number
  byRole: Partial<Record<ReplicaRole, number>>
}

/** countHeld counts `held` (the node's shards with its role in each: replicaCensus's heldBy). */
export function countHeld(held: readonly {role: string}[]): HeldReplicas {
  const byRole: Partial<Record<ReplicaRole, number>> = {}
  for (const {role} of held) byRole[role as ReplicaRole] = (byRole[role as ReplicaRole] ?? 0) + 1
  return {shards: held.length, byRole}
}

/** DataDirInput is what {@link decideDataDir} decides from. */
export interface DataDirInput {
  node: string
  /** dir is the --data-dir path (for the message). */
  dir: string
  match: DirMatch
  /** held: the node's replicas in the shard map, read after the node id was judged free (dataDirGuard.ts says why). */
  held: HeldReplicas
  /** acceptEmpty: the operator's --accept-empty-data (serve anyway; see its help). */
  acceptEmpty?: boolean
  /** marks: for a `behind` match, the marks compared (for the message). */
  marks?: DirMarks
}

/** DataDirStep: `accept` (the claim records this dir's id in the node record), `accept-empty` (refused but overridden: warn), or `refuse`. */
export type DataDirStep = {kind: 'accept'} | {kind: 'accept-empty'; warning: string} | {kind: 'refuse'; message: string; hint: string}

/**
 * decideDataDir: the dir the record names, or a record naming none, is served (and recorded);
 * another dir only when the node holds no replica at all.
 *
 * Every role counts, not only voters: conservatively, since a fresh dir costs the operator one
 * `node drain` while a wrong guess costs acknowledged writes. A `joining` or `outgoing` replica
 * is in the joint write quorum; a `learning` one is counted in no quorum, but its move may
 * have finished its copy already, and the move then promotes and verifies it taking that copy
 * as done (an empty learner would be fixed by verification's repair, but nothing should rest
 * on it); a `leaving` source can come back by `moves rollback`. A drain moves them all off.
 */
export function decideDataDir(input: DataDirInput): DataDirStep {
  if (input.match !== 'other' && input.match !== 'behind') return {kind: 'accept'}
  if (input.held.shards === 0) return {kind: 'accept'}
  const held = describeHeld(input.held)
  if (input.match === 'behind') return decideBehind(input, held)
  if (input.acceptEmpty) {
    return {kind: 'accept-empty', warning: `serving node ${input.node} from data dir ${input.dir}, which is not the dir its record names, although it holds replicas of ${held} (--accept-empty-data): reads may miss acknowledged writes until \`shardctl repair\` has copied them back from the other replicas (at rf 1 there are none: they are lost)`}
  }
  return {
    kind: 'refuse',
    message: `data dir ${input.dir} is not the one node ${input.node} last served from (a new or other dir: a replaced disk, a mistyped --data-dir, a lost volume?) and node ${input.node} holds replicas of ${held}: serving them without their data would lose acknowledged writes; nothing was changed`,
    hint: `point --data-dir at node ${input.node}'s previous data dir; if that dir is lost, move its replicas off from their surviving copies with \`shardctl node drain ${input.node}\`, then start it on the new dir and \`shardctl node uncordon ${input.node}\` (or \`shardctl node remove ${input.node}\` and add the new dir's node under a new id)`,
  }
}

/**
 * decideBehind: the node's own dir, older than what the node published of it, while it holds
 * replicas. Serving it is what serving an empty dir is, for the writes made since the copy:
 * quorum reads may miss them, and at rf 1 they are gone.
 */
function decideBehind(input: DataDirInput, held: string): DataDirStep {
  const local = input.marks?.local ?? 0
  const published = input.marks?.published
  const behind = `its write mark is ${local} and node ${input.node} published ${published?.mark ?? '?'} for it at ${published?.at ?? '?'}`
  if (input.acceptEmpty) {
    return {kind: 'accept-empty', warning: `serving node ${input.node} from data dir ${input.dir}, which is older than what the node served (${behind}), although it holds replicas of ${held} (--accept-empty-data): reads may miss acknowledged writes until \`shardctl repair\` has copied them back from the other replicas (at rf 1 there are none: they are lost)`}
  }
  return {
    kind: 'refuse',
    message: `data dir ${input.dir} is older than what node ${input.node} already served from it (${behind}: restored from a backup or snapshot, or its disk lost writes it had reported durable) and node ${input.node} holds replicas of ${held}: serving it would lose acknowledged writes; nothing was changed`,
    hint: `point --data-dir at node ${input.node}'s current dir if it still exists; else move its replicas off from their other copies with \`shardctl node drain ${input.node}\`, then start it and \`shardctl node uncordon ${input.node}\` (or serve this dir anyway with --accept-empty-data and run \`shardctl repair\`)`,
  }
}

/** describeHeld: "2 shards (2 as voter)". */
export function describeHeld(held: HeldReplicas): string {
  const roles = Object.entries(held.byRole)
    .map(([role, n]) => `${n} as ${role}`)
    .join(', ')
  return `${held.shards} shard${held.shards === 1 ? '' : 's'}${roles ? ` (${roles})` : ''}`
}
