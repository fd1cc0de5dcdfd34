import {randomUUID} from 'node:crypto'
import {type HashRange} from '../model/range.js'
import {keyHash} from '../model/hash.js'
import {errorMessage} from '../errors/errors.js'
import {TokenBucket} from '../throttle/tokenBucket.js'
import {type FrameSlabs} from './copyFrameSlabs.js'
import {type CopyFrame, CopyFrameError, FrameReader, MIN_FRAME_BYTES, releaseFrames} from './copyFrames.js'
import {CopyReceiveThreadError} from './copyReceiveProtocol.js'
import {type NodeLog} from './nodeLog.js'
import {spend} from './nodeThrottles.js'
import {type StreamPace} from './streamPaces.js'
import {type NodeRecord, recordsDataBytes} from './protocol.js'
import {decodeRecords, encodedRecordSize, RECORD_BATCH_HEADER} from './recordCodec.js'
import {type ApplyResult} from './storageEngine.js'
import {type GcFloor} from './lwwSql.js'
import {allocTransferable} from './transferableBatch.js'

/** CopySourceAddress names a replica a copy reads from and where it serves. */
export interface CopySourceAddress {
  node: string
  address: string
}

/** PullSpec is what the executor asks a destination to copy (POST /v1/shards/{shard}/pull). */
export interface PullSpec {
  moveId: string
  shard: number
  epoch: number
  /** sources are read one after another, each whole (more than one only when the move's source is down: merged by LWW). */
  sources: CopySourceAddress[]
  /** rate is this move's share of the cluster throttle (bytes/s; null: unlimited). */
  rate: number | null
  /** frameBytes caps one frame's page (the frame size adapts to the rate under it). */
  frameBytes: number
}

/** PULL_STATES: running, done (every source read to its end), failed (see `error`), cancelled, idle (nothing known for the shard). */
export const PULL_STATES = ['running', 'done', 'failed', 'cancelled', 'idle'] as const
/** PullState is one of {@link PULL_STATES}. */
export type PullState = (typeof PULL_STATES)[number]

/** PullStatus is a destination's report on a shard's copy (GET /v1/shards/{shard}/pull). */
export interface PullStatus {
  shard: number
  moveId: string | null
  epoch: number
  state: PullState
  /**
   * bytes are the record-batch bytes received so far for this move (across restarts and
   * source changes): what the throttles spend. Each record also carries its version and
   * lengths, each frame a 4-byte count, so an empty shard's copy is 4 bytes on the wire.
   */
  bytes: number
  /**
   * dataBytes are the key and value bytes applied so far (what load stats and a plan's size
   * estimate count): 0 for an empty shard. They count every pass: a copy merged from several
   * sources reads the range from each, so it applies about that many times the range's bytes.
   */
  dataBytes: number
  /** passes is how many sources the copy reads now, each from the range's start (or `prefixDataBytes` on) to its end, one after another. */
  passes: number
  /**
   * carriedDataBytes are the dataBytes applied before the current sources were named (a
   * source list that changed mid-copy: its passes' bytes stay counted); 0 for a copy that
   * kept its sources. What the copy reads in all is about
   * carriedDataBytes + passes × (the range's bytes − prefixDataBytes) (executor/copyTarget.ts).
   */
  carriedDataBytes: number
  /** prefixDataBytes are the range's key and value bytes below where the current sources start (copied once, before they were named); 0 when they start at the beginning. */
  prefixDataBytes: number
  keys: number
  /** cursor is the durable resume point in the current source (null: its start, or done). */
  cursor: string | null
  /** source is the replica being read now (or last). */
  source: string | null
  rate: number | null
  error: string | null
  /** errorCode is the node error code behind `error` when there was one (STALE_EPOCH, NODE_UNREACHABLE, ...). */
  errorCode: string | null
  /** failedSource names the source that failed (unreachable, cut the stream, refused), null when the destination itself failed. */
  failedSource: string | null
}

/** PersistedPull is a copy's durable state (engine meta `copy/<shard>`), written in the same transaction as each batch. */
interface PersistedPull {
  moveId: string
  epoch: number
  sources: string[]
  sourceIndex: number
  cursor: string | null
  /** startCursor is where every source after the first starts: the end of a prefix copied whole from a source that held every acknowledged write. */
  startCursor: string | null
  /** bytes are record-batch bytes received (see {@link PullStatus}). */
  bytes: number
  /** dataBytes are key and value bytes applied; absent in a state written before they were counted. */
  dataBytes?: number
  /** carriedDataBytes, prefixDataBytes: see {@link PullStatus}; absent (0) in a state written before they were kept. */
  carriedDataBytes?: number
  prefixDataBytes?: number
  keys: number
  done: boolean
}

/** CopyPullerDeps are the destination's side of a copy, injected. */
export interface CopyPullerDeps {
  /**
   * engine is the destination's store: applyCopyBatch commits a frame's records with its
   * resume state in one transaction (resolving once committed, off the event loop: see
   * StorageEngine), `encoded` being the frame's record batch as received.
   */
  engine: {
    applyCopyBatch(records: ReturnType<typeof decodeRecords>, name: string, state: string, encoded?: Buffer, durable?: boolean): Promise<ApplyResult>
    metaValue(name: string): string | undefined
    setMetaValue(name: string, value: string | null): Promise<void>
    /** adoptFloors takes a source's gc floors over `range` as the node's own, deleting values older than them when asked (StorageEngine.adoptFloors). */
    adoptFloors(range: HashRange, floors: readonly GcFloor[], dropValuesBelow?: boolean): Promise<number>
    /**
     * copyFrameSlabs, when given, are the frame slabs frames cut here are received into
     * (StorageEngine.copyFrameSlabs; undefined: none): applyCopyBatch hands a batch in one to
     * the writer thread as its slab index.
     */
    copyFrameSlabs?(): FrameSlabs | undefined
  }
  /**
   * openStream asks `source` for its copy stream of `shard` at `epoch` from `cursor` and
   * yields the response bytes, telling `onGcFloors` the source's gc floors over the range
   * (undefined: a source that predates them) before the first. Throws (or the iteration
   * throws) an error with a `code` when the source refuses or cannot be reached.
   */
  openStream(source: CopySourceAddress, shard: number, epoch: number, cursor: string | undefined, frameBytes: number, signal: AbortSignal, pace?: StreamPace, onGcFloors?: (floors: GcFloor[] | undefined) => void): AsyncIterable<Buffer>
  /**
   * openFrames, when given, replaces openStream and the frame cutting: it yields the same
   * stream's frames, in order, received elsewhere (CopyReceiver: the copy receive thread),
   * the source's gc floors on the first (CopyFrame.gcFloors), and throws what openStream
   * and FrameReader would (same class, code and fields). A CopyReceiveThreadError is this
   * node's failure, never the source's.
   */
  openFrames?(source: CopySourceAddress, shard: number, epoch: number, cursor: string | undefined, frameBytes: number, signal: AbortSignal, pace?: StreamPace): AsyncIterable<CopyFrame>
  /**
   * setSourcePace, when given, tells `source` the move's new rate for the stream `pace.stream`
   * it serves this node (StreamPaces); resolves to how many streams took it (0: that stream
   * is not open there yet).
   * Streams are opened with the move's rate (`pace`), and this keeps the source in step
   * when the rate changes; the destination's own bucket still holds the rate either way
   * (a source that predates pacing ignores both).
   */
  setSourcePace?(source: CopySourceAddress, shard: number, pace: StreamPace): Promise<number>
  /**
   * fence resolves to the shard's range while this node may still take the copy at
   * `epoch` (a write role at exactly that epoch, and no orphan sweep on the range); it
   * throws a coded error once it may not.
   */
  fence(shard: number, epoch: number): Promise<HashRange>
  /** sliceBytes bounds one copy transaction's key and value bytes (default {@link COPY_SLICE_BYTES}). */
  sliceBytes?: number
  /** receive is the node's receive bucket, shared by every copy it pulls. */
  receive: TokenBucket
  now: () => number
  sleep: (ms: number) => Promise<void>
  log: NodeLog
}

interface Job {
  spec: PullSpec
  state: PullState
  persisted: PersistedPull
  bucket: TokenBucket
  abort: AbortController
  error: string | null
  errorCode: string | null
  failedSource: string | null
  finished: Promise<void>
  /** paced is what the source being read was told of the move's rate (see {@link CopyPuller.keepSourceInStep}). */
  paced: SourcePace | undefined
}

/** SourcePace is the rate a source paces the job's stream at, as far as this node knows. */
interface SourcePace {
  source: CopySourceAddress
  /** stream is the id the stream was opened with: only that stream's answer says the source took a rate. */
  stream: string
  /** told is the last rate the source took (undefined: not known, tell it). */
  told: number | null | undefined
  /** telling is true while a rate change is on its way to the source. */
  telling: boolean
  /** retryAt: a change the source refused or could not place yet is told again from then on. */
  retryAt: number
  /** warned: a failure to tell it was logged (once per stream). */
  warned?: boolean
  /** unpaced: the source predates pacing (no stream-rate route): it paces nothing, so it is never told again. */
  unpaced?: boolean
}

/** SOURCE_PACE_RETRY_MS is how soon a rate change the source could not take (no stream open there yet, an error) is tried again. */
const SOURCE_PACE_RETRY_MS = 250

/** metaName is where a shard's copy state is kept in the engine's meta table. */
function metaName(shard: number): string {
  return `copy/${shard}`
}

/**
 * CopyPuller runs the copies a destination node pulls: one job per shard, each streaming
 * record frames from its sources (copyFrames.ts) and applying each frame as one
 * transaction with its resume cursor (StorageEngine.applyCopyBatch; only the frame that
 * completes the copy is fsync'd, and it makes the frames before it durable), one frame
 * committing while the next is received,
 * fenced by epoch before every frame and throttled by the move's bucket and the node's
 * receive bucket. A job never retries a failed source itself: it stops and reports which
 * source failed, and the executor decides (same source again, or other replicas). Asking
 * again for the same move and epoch resumes from the durable cursor, after a failure or a
 * restart of this node; a different move or epoch starts over.
 */
export class CopyPuller {
  private readonly jobs = new Map<number, Job>()

  constructor(private readonly deps: CopyPullerDeps) {}

  /**
   * pull starts (or keeps running, with the new rate) the copy `spec` names and returns its
   * status. Idempotent: asking again for a running copy of the same move, epoch and
   * sources only updates its rate; a finished one stays done. A running copy of another
   * move or epoch for the shard is cancelled first.
   */
  pull(spec: PullSpec): PullStatus {
    const running = this.jobs.get(spec.shard)
    if (running && running.state === 'running') {
      if (running.spec.moveId === spec.moveId && running.spec.epoch === spec.epoch && sameSources(running.spec.sources, spec.sources)) {
        running.spec = {...running.spec, rate: spec.rate, frameBytes: spec.frameBytes}
        if (running.bucket.currentRate() !== spec.rate) running.bucket.setRate(spec.rate)
        this.keepSourceInStep(running)
        return this.status(spec.shard)
      }
      running.abort.abort()
      running.state = 'cancelled'
    }
    const persisted = this.resumePoint(spec)
    const job: Job = {spec, state: persisted.done ? 'done' : 'running', persisted, bucket: new TokenBucket(spec.rate, this.deps.now), abort: new AbortController(), error: null, errorCode: null, failedSource: null, finished: Promise.resolve(), paced: undefined}
    this.jobs.set(spec.shard, job)
    if (job.state === 'running') {
      this.deps.log.info('copy started', {shard: spec.shard, epoch: spec.epoch, move: spec.moveId, sources: spec.sources.map((s) => s.node), resumeAt: persisted.cursor, bytesBefore: persisted.bytes})
      job.finished = this.run(job)
    }
    return this.status(spec.shard)
  }

  /** status reports the shard's copy: the job in memory, else what is persisted (state idle: the executor should ask again). */
  status(shard: number): PullStatus {
    const job = this.jobs.get(shard)
    if (job) {
      const p = job.persisted
      return {shard, moveId: job.spec.moveId, epoch: job.spec.epoch, state: job.state, bytes: p.bytes, dataBytes: p.dataBytes ?? 0, passes: p.sources.length, carriedDataBytes: p.carriedDataBytes ?? 0, prefixDataBytes: p.prefixDataBytes ?? 0, keys: p.keys, cursor: p.cursor, source: job.spec.sources[Math.min(p.sourceIndex, job.spec.sources.length - 1)]?.node ?? null, rate: job.bucket.currentRate(), error: job.error, errorCode: job.errorCode, failedSource: job.failedSource}
    }
    const p = this.readPersisted(shard)
    return {shard, moveId: p?.moveId ?? null, epoch: p?.epoch ?? 0, state: p?.done ? 'done' : 'idle', bytes: p?.bytes ?? 0, dataBytes: p?.dataBytes ?? 0, passes: p?.sources.length ?? 1, carriedDataBytes: p?.carriedDataBytes ?? 0, prefixDataBytes: p?.prefixDataBytes ?? 0, keys: p?.keys ?? 0, cursor: p?.cursor ?? null, source: null, rate: null, error: null, errorCode: null, failedSource: null}
  }

  /**
   * settled resolves with the shard's status once its running copy ends (done, failed or
   * cancelled) or `waitMs` passed, whichever comes first; at once when none runs. It lets
   * the executor learn that a copy finished the moment it does instead of at its next
   * poll (a small move's copy takes milliseconds; a poll interval would be most of it).
   */
  async settled(shard: number, waitMs: number): Promise<PullStatus> {
    const job = this.jobs.get(shard)
    if (job && job.state === 'running' && waitMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([job.finished, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))])
      clearTimeout(timer)
    }
    return this.status(shard)
  }

  /** cancel stops the shard's copy (if `moveId` is given, only that move's) and waits for it to stop; the durable cursor stays. */
  async cancel(shard: number, moveId?: string): Promise<PullStatus> {
    const job = this.jobs.get(shard)
    if (job && (moveId === undefined || job.spec.moveId === moveId) && job.state === 'running') {
      job.abort.abort()
      job.state = 'cancelled'
      await job.finished
    }
    return this.status(shard)
  }

  /** forget cancels the shard's copy and deletes its durable state (its data is being dropped: a later copy starts afresh). */
  async forget(shard: number): Promise<void> {
    await this.cancel(shard)
    this.jobs.delete(shard)
    await this.deps.engine.setMetaValue(metaName(shard), null)
  }

  /** close cancels every running copy and waits for them (node shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.jobs.keys()].map((s) => this.cancel(s)))
  }

  private readPersisted(shard: number): PersistedPull | undefined {
    const raw = this.deps.engine.metaValue(metaName(shard))
    if (!raw) return undefined
    try {
      return JSON.parse(raw) as PersistedPull
    } catch {
      return undefined // unreadable state: start over (re-copying is safe, LWW)
    }
  }

  /**
   * resumePoint is where `spec` starts: the durable state of the same move and epoch when
   * there is one (done stays done; a changed source list restarts the sources at the end
   * of the prefix copied whole from a source that held every acknowledged write), else
   * the beginning.
   */
  private resumePoint(spec: PullSpec): PersistedPull {
    const names = spec.sources.map((s) => s.node)
    const p = this.readPersisted(spec.shard)
    const fresh: PersistedPull = {moveId: spec.moveId, epoch: spec.epoch, sources: names, sourceIndex: 0, cursor: null, startCursor: null, bytes: 0, dataBytes: 0, carriedDataBytes: 0, prefixDataBytes: 0, keys: 0, done: false}
    if (!p || p.moveId !== spec.moveId || p.epoch !== spec.epoch) return fresh
    if (p.done || sameNames(p.sources, names)) return p
    // A single-source prefix is complete (that source held every acknowledged write up to
    // its cursor); a multi-source one is complete only up to where all its sources started.
    const start = p.sources.length === 1 ? p.cursor : p.startCursor
    // What the progress counts from here (see PullStatus): the bytes applied so far stay
    // counted (carried), and the prefix grows by a single source's pass, read once from the
    // old start to its cursor; a multi-source prefix stays what it was.
    const carried = p.carriedDataBytes ?? 0
    const prefix = (p.prefixDataBytes ?? 0) + (p.sources.length === 1 ? Math.max(0, (p.dataBytes ?? 0) - carried) : 0)
    return {...fresh, cursor: start, startCursor: start, bytes: p.bytes, dataBytes: p.dataBytes, keys: p.keys, carriedDataBytes: p.dataBytes ?? 0, prefixDataBytes: start === null ? 0 : prefix}
  }

  /**
   * applyFrame commits a frame's records in slices of about `sliceBytes` (deps), each its
   * own transaction, handed to the writer only after the one before it committed: client
   * writes queued meanwhile commit between slices instead of waiting behind a whole frame.
   * Only the last slice stores `next` (the resume state after the frame); the others store
   * `before` again, so a crash between slices resumes at the frame's start (re-applying a
   * slice is an LWW no-op). The fence is checked again before every slice after the first,
   * so no slice lands after the copy lost its epoch. Only the slice that completes the copy
   * is fsync'd: it makes every frame before it durable with it.
   */
  private async applyFrame(job: Job, records: NodeRecord[], batch: Buffer, before: PersistedPull, next: PersistedPull): Promise<void> {
    const name = metaName(job.spec.shard)
    const slices = sliceRecords(records, this.sliceBytes())
    let at = RECORD_BATCH_HEADER
    for (let i = 0; i < slices.length; i++) {
      const last = i === slices.length - 1
      if (i > 0) {
        await this.deps.fence(job.spec.shard, job.spec.epoch)
        if (job.abort.signal.aborted) throw new Error('copy cancelled')
      }
      // A frame of one slice (the usual case: frames are asked for at the slice size) is handed
      // over as received; a slice of a larger one is cut from the frame's bytes (no re-encode),
      // into a buffer handed over to the writer thread.
      const encoded = slices.length === 1 ? batch : sliceEncoding(batch, at, slices[i]!)
      at += encoded.length - RECORD_BATCH_HEADER
      await this.deps.engine.applyCopyBatch(slices[i]!, name, JSON.stringify(last ? next : before), encoded, last && next.done)
    }
  }

  /** sliceBytes is about how many key and value bytes one copy transaction takes (see {@link COPY_SLICE_BYTES}). */
  private sliceBytes(): number {
    return this.deps.sliceBytes ?? COPY_SLICE_BYTES
  }

  /**
   * frames yields `source`'s copy stream as frames: from deps.openFrames when given, else
   * cut here from deps.openStream's bytes. The source is asked to pace the stream at the
   * move's rate as it is now; {@link keepSourceInStep} tells it later changes.
   */
  private async *frames(job: Job, source: CopySourceAddress, cursor: string | undefined, frameBytes: number): AsyncGenerator<CopyFrame> {
    const {shard, epoch, moveId} = job.spec
    const signal = job.abort.signal
    // A fresh id per stream: the stream this one replaces may still be open at the source (see StreamPace.stream).
    const pace: StreamPace = {move: moveId, rate: job.spec.rate, stream: randomUUID()}
    job.paced = {source, stream: pace.stream!, told: pace.rate, telling: false, retryAt: 0}
    if (this.deps.openFrames) {
      yield* this.deps.openFrames(source, shard, epoch, cursor, frameBytes, signal, pace)
      return
    }
    const reader = new FrameReader(this.deps.engine.copyFrameSlabs?.())
    let floors: GcFloor[] | undefined
    let first = true
    try {
      for await (const chunk of this.deps.openStream(source, shard, epoch, cursor, frameBytes, signal, pace, (f) => void (floors = f))) {
        const frames = reader.push(chunk)
        let next = 0
        try {
          while (next < frames.length) {
            const frame = frames[next++]!
            yield first && floors ? {...frame, gcFloors: floors} : frame
            first = false
          }
        } finally {
          // Frames not yet yielded when the consumer stops are freed here; a yielded one is the consumer's to free.
          releaseFrames(frames.slice(next))
        }
      }
    } finally {
      reader.dispose()
    }
  }

  /**
   * adoptSourceFloors makes the gc floors a source sent with its stream (`floors`, on the
   * stream's first frame) this node's own before any of the stream's frames is applied:
   * `fromStart` says the stream starts at the range's beginning (no cursor) and is the
   * copy's first: no frame of this copy was applied yet.
   *
   * Why: a node that was down while the source purged a delete D, and restarted with a
   * longer --tombstone-grace, refuses only writes older than its own grace. Without the
   * source's floor it takes a late write of the value V that D deleted (a router's hint
   * replay), the copy brings nothing for the key (D is gone), and after cutover V is live
   * on a voter: a read quorum returns the deleted value. Once the floor is adopted, such a
   * write is refused (the write screen counts the gc floor), a repair value that old is
   * dropped, and the floor is persisted (gc_floor), so a restarted destination that resumes
   * from its cursor keeps it. The stream's own frames are not screened: a value a source
   * holds below a floor some purge used was held by every replica at that purge's fence
   * (a purge needs equal fence digests), so none of them is one a purged tombstone
   * shadowed. (A floor can also come from a fence whose digests differed, which purged
   * nothing: below such a floor the replicas may differ, see the later streams below.)
   *
   * The window before the first frame: the destination takes writes from `joining` (the
   * accept at E+1), before it knows the floor, so a late V may already be stored. When the
   * stream starts at the range's beginning, the values below the source's floor are deleted
   * with the adoption (StorageEngine.adoptFloors: behind every write screened before it).
   * That deletes nothing a client was told is stored: the destination dropped the range
   * before it joined, so every such value arrived since (a write, a replay, a repair), and
   * either the source holds it or a newer record of its key (the stream, starting at the
   * beginning, brings that back), or the source does not: then no write quorum acknowledged
   * it, since every quorum needs a voter of the old set, and each of them refuses a value
   * older than the source's floor (every replica of the round that set it agreed to that
   * cutoff, so its stale floor is above it; and it holds the same floor or a higher one).
   * A stream that resumes at a cursor only adopts the floors: they were adopted, and the
   * window closed, before the first frame of the copy committed (a restarted destination
   * reads them back from gc_floor).
   *
   * So does a later stream that starts at the beginning (a copy merged from several
   * sources, each read whole; new sources after a failover): deleting below its source's
   * floor would run over what the earlier streams brought, and a value one live replica
   * holds below another's floor, with no newer record of its key there, can be an
   * acknowledged write. A gc fence raises every replica's floor even when its digests then
   * differ (repairShards does not purge, but the floors stay): a write screened just inside
   * the grace (a hint replay, a retry after STALE_EPOCH: same version) and committed after
   * anti-entropy's digests, on the replicas that acknowledged it, while a replica that
   * screened it later refused it, is below the floor on the first and absent on the other,
   * and no repair brings it there (test/node/copyPuller.test.ts, "a raced gc fence").
   * Deleting it from the destination left it on one replica of the new set: a read quorum
   * of the other two missed it. Not deleting is safe: what a later stream's floor would
   * delete is either copied (every copied value was held by an old voter, and a value a
   * purged tombstone shadowed is on none: a purge needs equal fence digests) or taken by
   * this node since the first adoption, screened by the first source's floor, which is at
   * least every purge cutoff of the range (that source was fenced in every purge of it, or
   * adopted the floors of a source that was). The later floors are still adopted: they
   * screen what comes after. Left open: a first stream from a source of an older
   * build (no floors) followed, after a failover, by one that resumes at a cursor from a
   * source that sends them, or by the next source of a merged copy (it adopts without the
   * deletion too); the grace check (repair/graceCheck.ts) covers alive nodes there.
   */
  private async adoptSourceFloors(range: HashRange, floors: GcFloor[], fromStart: boolean, job: Job, source: CopySourceAddress): Promise<void> {
    let dropped: number
    try {
      dropped = await this.deps.engine.adoptFloors(range, floors, fromStart)
    } catch (err) {
      // A floor from the future (StorageEngine.adoptFloors): the source's fault, like a key outside the range; nothing was adopted.
      if (err instanceof RangeError) throw Object.assign(new CopyFrameError(`source ${source.node} sent ${err.message}`), {code: 'INTERNAL'})
      throw err
    }
    if (dropped > 0) this.deps.log.info('copy source gc floor adopted: dropped values older than it taken before the copy', {shard: job.spec.shard, move: job.spec.moveId, source: source.node, dropped})
  }

  /**
   * keepSourceInStep tells the source being read the move's rate when it differs from what
   * the source last took: at once when the executor re-rates the copy, and again at every
   * frame until the source took it (the stream may not be open there yet when the rate
   * changes; a failed request is retried after SOURCE_PACE_RETRY_MS). Never awaited: the
   * destination's own bucket holds the new rate meanwhile, so a late source only means it
   * runs ahead of (or behind) the destination by a frame or two for that long.
   */
  private keepSourceInStep(job: Job): void {
    const p = job.paced
    const rate = job.spec.rate
    if (!p || !this.deps.setSourcePace || p.unpaced || p.telling || p.told === rate || this.deps.now() < p.retryAt) return
    p.telling = true
    this.deps.setSourcePace(p.source, job.spec.shard, {move: job.spec.moveId, rate, stream: p.stream}).then(
      (streams) => {
        p.telling = false
        if (streams > 0) p.told = rate
        else p.retryAt = this.deps.now() + SOURCE_PACE_RETRY_MS
      },
      (err: unknown) => {
        p.telling = false
        // A source that predates pacing has no such route: it never paced the stream, so there is nothing to keep in step.
        if ((err as {code?: unknown} | undefined)?.code === 'NOT_FOUND') return void (p.unpaced = true)
        p.retryAt = this.deps.now() + SOURCE_PACE_RETRY_MS
        if (!p.warned) this.deps.log.info('could not tell the copy source the new rate; the destination holds it meanwhile (trying again)', {shard: job.spec.shard, move: job.spec.moveId, source: p.source.node, error: errorMessage(err)})
        p.warned = true
      },
    )
  }

  private async run(job: Job): Promise<void> {
    const {spec} = job
    const p = job.persisted
    while (p.sourceIndex < spec.sources.length) {
      const source = spec.sources[p.sourceIndex]!
      let sawLast = false
      let sourceFault = true
      // One frame commits while the next is received, decoded, fenced and throttled. Frames
      // still commit one after another in stream order: the next is handed to the writer
      // only after the one before it committed, so no resume cursor is ever stored ahead of
      // records that are not, and a failed commit stops the stream before anything after it.
      // `applying` resolves (never rejects) to the commit's error, or undefined once `p` holds the frame.
      let applying: Promise<unknown> | undefined
      const committed = async () => {
        const err = await applying
        applying = undefined
        if (err !== undefined) {
          sourceFault = false
          throw err
        }
      }
      // `queued` is `p` plus the frame being applied: where the next frame's state starts from.
      let queued: PersistedPull = {...p}
      try {
        // Frames no larger than a slice: each is then applied whole, its batch handed to the writer thread as received (see applyFrame).
        const frameBytes = Math.max(MIN_FRAME_BYTES, Math.min(spec.frameBytes, this.sliceBytes()))
        const streamCursor = p.cursor ?? undefined
        for await (const frame of this.frames(job, source, streamCursor, frameBytes)) {
          // The frame's slab (if any) is freed once its commit was answered, or here if it is dropped before that.
          let handed = false
          try {
            if (job.abort.signal.aborted) return
            this.keepSourceInStep(job)
            const records = decodeRecords(frame.batch)
            sourceFault = false
            const range = await this.deps.fence(spec.shard, spec.epoch)
            for (const r of records) {
              const h = keyHash(r.key)
              if (h < range.lo || h >= range.hi) throw Object.assign(new CopyFrameError(`source ${source.node} sent a key hashing to ${h}, outside shard ${spec.shard}'s range`), {code: 'INTERNAL'})
            }
            // Only a stream's first frame carries them: nothing of this stream is applied yet, and an earlier stream's frames all committed.
            // The deletion runs only before the copy's first frame (see adoptSourceFloors): a later
            // stream from the beginning (the next source of a merged copy, or new sources after a
            // failover) adopts the floors alone, so it never deletes what an earlier stream brought.
            if (frame.gcFloors?.length) await this.adoptSourceFloors(range, frame.gcFloors, streamCursor === undefined && p.bytes === 0, job, source)
            if (!(await spend([job.bucket, this.deps.receive], frame.batch.length, this.deps.sleep, job.abort.signal))) return
            await committed()
            // Fenced again after waiting: the throttle and the previous commit may have held the frame across an epoch change.
            await this.deps.fence(spec.shard, spec.epoch)
            if (job.abort.signal.aborted) return
            const before = queued
            const next: PersistedPull = {...queued, bytes: queued.bytes + frame.batch.length, dataBytes: (queued.dataBytes ?? 0) + recordsDataBytes(records), keys: queued.keys + records.length}
            if (frame.last) {
              next.sourceIndex = queued.sourceIndex + 1
              next.cursor = next.startCursor
              next.done = next.sourceIndex >= spec.sources.length
              sawLast = true
            } else next.cursor = frame.cursor ?? null
            queued = next
            applying = this.applyFrame(job, records, frame.batch, before, next)
              .finally(() => frame.release?.())
              .then(
                () => void Object.assign(p, next),
                (err: unknown) => err ?? new Error('copy frame apply failed'),
              )
            handed = true
            sourceFault = true
          } finally {
            if (!handed) frame.release?.()
          }
        }
        await committed()
        if (job.abort.signal.aborted) return
        if (!sawLast) throw Object.assign(new Error(`the copy stream from ${source.node} ended before its last frame`), {code: 'NODE_UNREACHABLE'})
      } catch (err) {
        // A stream fault (or an abort) may come while a frame commits: let it finish, so `p` says what is stored.
        if (applying) await applying
        if (job.abort.signal.aborted) return
        // A fault while reading the stream is the source's; one in fencing or applying is ours.
        const code = (err as {code?: unknown}).code
        job.state = 'failed'
        job.error = errorMessage(err)
        job.errorCode = typeof code === 'string' ? code : err instanceof CopyFrameError ? 'INTERNAL' : null
        job.failedSource = sourceFault && !(err instanceof CopyReceiveThreadError) ? source.node : null
        this.deps.log.warn('copy failed', {shard: spec.shard, epoch: spec.epoch, move: spec.moveId, source: source.node, sourceFault, error: job.error})
        return
      } finally {
        // An aborted job returns with a frame possibly committing: the job ends when it did.
        if (applying) await applying
      }
    }
    job.state = 'done'
    this.deps.log.info('copy done', {shard: spec.shard, epoch: spec.epoch, move: spec.moveId, bytes: p.bytes, dataBytes: p.dataBytes ?? 0, keys: p.keys})
  }
}

/**
 * COPY_SLICE_BYTES: a copy frame commits in transactions of about this many key and value
 * bytes (see CopyPuller.applyFrame). A slice was re-encoded for the writer thread (now it is
 * cut from the frame's bytes and moved, see sliceEncoding), so smaller slices cost the
 * destination CPU (in these runs every slice was also fsync'd: the node's
 * adapter dropped `durable`, fixed since in meteredCopyEngine). bench:move (BENCH_PARTS=big BENCH_SHARD_MIB=512, quiet
 * machine, one run each): 512 KiB slices copied 26.2 MiB/s with client p99 88.7 ms (21.2
 * before), 2 MiB 48.6 MiB/s with 99.0 ms (16.8), whole frames 56.1 MiB/s with 134.5 ms (19.2).
 */
export const COPY_SLICE_BYTES = 2 * 1024 * 1024

/**
 * sliceRecords cuts `records` into runs of about `maxBytes` of keys and values each: a run
 * ends with the record that brings it to `maxBytes` or more (one run for an empty frame).
 * A source cuts a frame's page the same way, counting more bytes per record (versions and
 * framing too), so a frame asked for at `maxBytes` is one run.
 */
export function sliceRecords(records: NodeRecord[], maxBytes: number): NodeRecord[][] {
  const out: NodeRecord[][] = []
  let run: NodeRecord[] = []
  let bytes = 0
  for (const r of records) {
    run.push(r)
    bytes += r.key.length + (r.value?.length ?? 0)
    if (bytes >= maxBytes) {
      out.push(run)
      run = []
      bytes = 0
    }
  }
  if (run.length > 0 || out.length === 0) out.push(run)
  return out
}

/**
 * sliceEncoding is the record batch of `slice`, the records whose encoding starts at byte
 * `at` of `batch` (the frame's batch they were decoded from), cut from its bytes into a
 * buffer from allocTransferable: the frame's bytes are copied once, and the result can be
 * moved to the writer thread.
 */
export function sliceEncoding(batch: Buffer, at: number, slice: readonly NodeRecord[]): Buffer {
  let bytes = 0
  for (const r of slice) bytes += encodedRecordSize(r)
  const out = allocTransferable(RECORD_BATCH_HEADER + bytes)
  out.writeUInt32LE(slice.length, 0)
  batch.copy(out, RECORD_BATCH_HEADER, at, at + bytes)
  return out
}

function sameSources(a: readonly CopySourceAddress[], b: readonly CopySourceAddress[]): boolean {
  return a.length === b.length && a.every((s, i) => s.node === b[i]!.node && s.address === b[i]!.address)
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i])
}
