import {getMeta, getNode} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {replicaCensus} from '../cluster/shardScan.js'
import {UserError} from '../errors/errors.js'
import {type ClusterNode, NodeClaimSchema, type NodeMark, NodeMarkSchema} from '../model/node.js'
import {countHeld, decideDataDir, type DirMarks, matchDataDir} from './dataDirClaim.js'

/** DataDirGuardOptions configure {@link judgeDataDir}. */
export interface DataDirGuardOptions {
  node: string
  dir: string
  /** local is this dir's id (undefined: the dir holds no database yet, so it is new). */
  local: string | undefined
  /** acceptEmpty is --accept-empty-data. */
  acceptEmpty?: boolean
  /** localMark is this dir's write mark (StorageEngine.writeMark; undefined: a new dir). */
  localMark?: number
}

/**
 * judgeDataDir throws UserError BAD_INPUT (exit 2, one line naming the dir, the node, the
 * replicas it holds and the fix) when {@link decideDataDir} refuses this dir for the node,
 * whose record names `recorded` (see dataDirClaim.ts); it writes nothing. The shard map is
 * read only when the record names another dir (one paged read, at one revision).
 *
 * Races. A caller that goes on to claim the id must call this after the claim's
 * resolveIdentityClaim (which judged alive/<id> free or its holder gone, at the mod revision
 * the claim compares on) and compare on the mod revisions of the record and of
 * claims/<id> read for `recorded` ({@link readRecordedDataDir}). Then
 * the map is read after any other process serving the id was gone, so every replica that
 * holds writes only that process acknowledged is still in it (or was moved off, its data
 * copied); and a replica placed on the id after this read is filled (by its move's copy) and
 * written only by the process that serves the id from then on, which the claim's compare
 * proves is this one. A map change between this read and the claim therefore cannot make the
 * new dir lack an acknowledged write, and the claim needs no compare on the map.
 */
export async function judgeDataDir(ctx: ServiceContext, opts: DataDirGuardOptions, recorded: string | undefined, published?: NodeMark): Promise<DataDirVerdict> {
  const marks: DirMarks = {local: opts.localMark ?? 0, published}
  const match = matchDataDir(recorded, opts.local, marks)
  if (match !== 'other' && match !== 'behind') return {kind: match}
  const census = await replicaCensus(ctx, (await getMeta(ctx)).value.rf, opts.node)
  const step = decideDataDir({node: opts.node, dir: opts.dir, match, held: countHeld(census.heldBy), acceptEmpty: opts.acceptEmpty, marks})
  if (step.kind === 'refuse') throw new UserError('BAD_INPUT', step.message, step.hint)
  if (step.kind === 'accept-empty') return {kind: 'accept-empty', warning: step.warning}
  return match === 'behind' ? {kind: 'behind'} : {kind: 'new'}
}

/**
 * DataDirVerdict is how {@link judgeDataDir} let the dir serve: the record names it (`same`)
 * or none (`unrecorded`), it is a new dir and the node holds no replicas (`new`), it is the
 * node's dir but older than the node's published write mark and the node holds no replicas
 * (`behind`), or --accept-empty-data overrode a refusal (`accept-empty`, with the warning to log).
 */
export type DataDirVerdict = {kind: 'same' | 'unrecorded' | 'new' | 'behind'} | {kind: 'accept-empty'; warning: string}

/**
 * RecordedDataDir is the data dir node `node` last registered with, as read for a claim: the
 * node record (with its mod revision) and `claims/<id>` (its mod revision, 0n: absent).
 */
export interface RecordedDataDir {
  record: ClusterNode
  recordModRevision: bigint
  claimModRevision: bigint
  /** recorded: the record's dataDirId, else the one claims/<id> names (undefined: neither names one). */
  recorded: string | undefined
  /** published: the node's last published write mark, `marks/<id>` (undefined: none). */
  published: NodeMark | undefined
}

/**
 * readRecordedDataDir reads which data dir node `node` last registered with. The record's
 * `dataDirId` comes first (every build that writes claims/<id> writes it too, in the same
 * transaction); when the record names none, `claims/<id>` is asked: a build that predates
 * dir ids, rewriting the record during a rolling upgrade (`node set`, `node cordon`, its
 * autopilot marking the node draining), drops the field but never touches that key. Before
 * the key existed such a rewrite turned the check off: the next start took any dir, a new
 * empty one too, while the node held replicas.
 */
export async function readRecordedDataDir(ctx: ServiceContext, node: string): Promise<RecordedDataDir> {
  const [record, claim, mark] = await Promise.all([getNode(ctx, node), ctx.store.getTyped(ctx.keys.claim(node), NodeClaimSchema), ctx.store.getTyped(ctx.keys.mark(node), NodeMarkSchema)])
  return {record: record.value, recordModRevision: record.modRevision, claimModRevision: claim?.modRevision ?? 0n, recorded: record.value.dataDirId ?? claim?.value.dataDirId, published: mark?.value}
}

/** guardDataDir is {@link judgeDataDir} against the node record as it is now: start-up's check before the claim, so that a refused start makes nothing. */
export async function guardDataDir(ctx: ServiceContext, opts: DataDirGuardOptions): Promise<DataDirVerdict> {
  const read = await readRecordedDataDir(ctx, opts.node)
  return judgeDataDir(ctx, opts, read.recorded, read.published)
}
