import {compareRecords, mergeRecord, versionWall} from '../../src/node/lwwMerge.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
import {type ApplyKind, type ApplyResponse, type GetResult, type NodeRecord} from '../../src/node/protocol.js'
import {type NodeDataApi} from '../../src/router/coordinator.js'

/**
 * FakeNode is an in-memory storage node for coordinator tests: LWW apply, epoch fencing
 * (an older epoch is refused with STALE_EPOCH), and switches to make it unreachable.
 * With `tombstoneCutoff`, a tombstone whose version's wall clock is below it arrives
 * already expired, as on a StorageEngine past its grace: it stores nothing (a copy's or
 * repair's deletes what it beats; a client write's changes nothing) and is reported in `expired`.
 * As StorageEngine, a client write's stored tombstone reports what it replaced (`deletePriors`).
 */
export class FakeNode implements NodeDataApi {
  readonly records = new Map<string, NodeRecord>()
  readonly applied: {kind: ApplyKind; record: NodeRecord}[] = []
  down = false
  epoch = 1
  gets = 0
  tombstoneCutoff?: () => number
  /** expiredSeen counts tombstones that arrived already expired. */
  expiredSeen = 0
  /** stalled, while set, holds every apply until it resolves (a node busy or frozen). */
  stalled?: Promise<unknown>
  /** refuseNext: how many next requests are refused NOT_SERVING before anything is read or applied (a node re-registering, or unable to confirm an epoch with etcd); Infinity: all. */
  refuseNext = 0
  /** refusals counts the requests refused NOT_SERVING. */
  refusals = 0
  /** storageFull: the NOT_SERVING refusals are for want of disk space (the body's `storageFull`). */
  storageFull = false

  constructor(readonly id: string) {}

  async get(_shard: number, epoch: number, key: Buffer): Promise<GetResult> {
    this.check(epoch)
    this.gets++
    return {epoch: this.epoch, record: this.records.get(key.toString('hex'))}
  }

  async apply(_shard: number, epoch: number, records: readonly NodeRecord[], kind: ApplyKind = 'write'): Promise<ApplyResponse> {
    if (this.stalled) await this.stalled
    this.check(epoch)
    const superseded: {i: number; version: string}[] = []
    const expired: number[] = []
    const deletePriors: {i: number; version?: string; live: boolean}[] = []
    records.forEach((r, i) => {
      this.applied.push({kind, record: r})
      const head = this.records.get(r.key.toString('hex'))
      if (r.value === null && this.tombstoneCutoff && versionWall(r.version) < this.tombstoneCutoff() && (!head || compareRecords(r, head) > 0)) {
        // As StorageEngine: a client write's expired tombstone changes nothing; a copy's or repair's deletes what it beats.
        if (kind !== 'write') this.records.delete(r.key.toString('hex'))
        expired.push(i)
        this.expiredSeen++
        return
      }
      const kept = mergeRecord(head, r)
      // As StorageEngine: lost to a newer version, or to another record at this one (a tie); an identical repeat is no loss.
      if (compareRecords(kept, r) > 0) superseded.push({i, version: kept.version})
      if (kind === 'write' && r.value === null && (!head || compareRecords(r, head) > 0)) deletePriors.push(head ? {i, version: head.version, live: head.value !== null} : {i, live: false})
      this.records.set(r.key.toString('hex'), kept)
    })
    return {epoch: this.epoch, applied: records.length - superseded.length, ignored: superseded.length, superseded, ...(expired.length > 0 ? {expired} : {}), ...(deletePriors.length > 0 ? {deletePriors} : {})}
  }

  private check(epoch: number): void {
    if (this.down) throw new NodeRequestError('NODE_UNREACHABLE', `node ${this.id}: ECONNREFUSED`, this.id, 0)
    if (this.refuseNext > 0) {
      this.refuseNext--
      this.refusals++
      throw new NodeRequestError('NOT_SERVING', `node ${this.id}: node is not serving (starting, or re-registering after a lost etcd lease)`, this.id, 503, undefined, {storageFull: this.storageFull})
    }
    if (epoch < this.epoch) throw new NodeRequestError('STALE_EPOCH', `node ${this.id}: stale epoch ${epoch} < ${this.epoch}`, this.id, 409, this.epoch)
  }
}
