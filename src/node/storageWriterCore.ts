import {DigestCells} from './digestCells.js'
import {committedChangesOf, LwwWriter, openConnection, passiveCheckpoint} from './lwwSql.js'
import {decodeRecords} from './recordCodec.js'
import {committedStoreChangesOf, type StoreChanges, StoreWriters} from './storeWriters.js'
import {type SlabBatch, type WriterData, type WriterReply, type WriterRequest} from './storageWriterProtocol.js'

/** WriterCore answers writer requests one at a time (see {@link openWriterCore}). */
export type WriterCore = (req: WriterRequest) => WriterReply

/**
 * openWriterCore opens the database's writing connection and returns the function that
 * runs one {@link WriterRequest} on it and answers it: the result and changed digest cells,
 * or the error (the transaction rolled back). The storage writer thread runs it for every
 * message; an engine opened with `writerThread: false` runs it on the main thread.
 * Client writes, copy frames, meta deletions, purges, range drops and the values adopted floors
 * drop route by span to the range stores the main file's table names (StoreWriters); with none,
 * every request runs on the main file as before.
 * After a `close` request the connections are closed.
 */
export function openWriterCore(data: WriterData): WriterCore {
  const db = openConnection(data.file, data.synchronous, data.pageSize, data.busyTimeoutMs)
  if (data.autocheckpointPages !== undefined) db.pragma(`wal_autocheckpoint = ${Math.max(1, Math.floor(data.autocheckpointPages))}`)
  const cells = new DigestCells()
  cells.load(db.prepare<[], {f: number; xhi: number; xlo: number; n: number; bytes: number}>('SELECT f, xhi, xlo, n, bytes FROM fine').all())
  const writer = new LwwWriter(db, cells)
  // The range stores the main file's table names (none on every node until something splits a
  // range out): client writes, copy frames and meta deletions route to them by span at commit.
  let routed: StoreWriters
  try {
    routed = StoreWriters.open(db, writer, data.file, {synchronous: data.synchronous, pageSize: data.pageSize, busyTimeoutMs: data.busyTimeoutMs, autocheckpointPages: data.autocheckpointPages})
  } catch (err) {
    db.close()
    throw err
  }

  /** slabs are the node's frame slabs, once shared (op `slabs`): a copy op may name its batch by slab. */
  let slabs: SharedArrayBuffer[] = []

  /** records decodes a batch that crossed a thread boundary (it may arrive as a plain Uint8Array, or as a slab and a length). */
  const records = (batch: Uint8Array | SlabBatch) => {
    if (!(batch instanceof Uint8Array)) {
      const slab = slabs[batch.slab]
      if (!slab) throw new Error(`copy batch names frame slab ${batch.slab}, which the writer was not given`)
      return decodeRecords(Buffer.from(slab, 0, batch.length))
    }
    return decodeRecords(Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength))
  }

  const run = (req: WriterRequest) => {
    switch (req.op) {
      case 'apply':
        return routed.applyGroup(req.calls.map((c) => ({records: records(c.batch), opts: {clientWrite: c.clientWrite}})))
      case 'copy':
        return routed.applyCopy(records(req.batch), req.name, req.state, req.durable)
      case 'slabs':
        slabs = req.slabs
        return {result: undefined, changes: new Float64Array(0), seconds: 0}
      case 'purge':
        return routed.purge(req.range, req.before, req.limit)
      case 'deleteSlice':
        return routed.deleteSlice(req.range, req.from, req.sliceMs)
      case 'rangeRowIds':
        return {result: routed.rangeRowIds(req.range, req.from, req.maxRows, req.store), changes: new Float64Array(0), seconds: 0}
      case 'deleteRows': {
        // The caller sizes the next drop transaction from this one's time, commit included (see nextDropBudget).
        const done = routed.deleteRows(req.range, req.ids, req.sliceMs, req.minIds, req.store)
        return {...done, result: {...done.result, seconds: done.seconds}}
      }
      case 'meta':
        return routed.setMeta(req.name, req.value, req.durable)
      case 'returnFreePages':
        return writer.returnFreePages(req.pages)
      case 'floors':
        return routed.setFloors(req.floors, req.dropValuesBelow)
      case 'checkpoint': {
        const started = performance.now()
        const result = passiveCheckpoint(db)
        return {result, changes: new Float64Array(0), seconds: (performance.now() - started) / 1000}
      }
      case 'barrier':
        return {result: undefined, changes: new Float64Array(0), seconds: 0}
      case 'close':
        routed.close()
        if (db.open) db.close()
        return {result: undefined, changes: new Float64Array(0), seconds: 0}
    }
  }

  return (req) => {
    try {
      const done: {result: unknown; changes: Float64Array; seconds: number; stores?: StoreChanges[]} = run(req)
      // Range stores' cell changes only when some were made: the single-store reply is as before.
      if (done.stores && done.stores.length > 0) return {id: req.id, ok: true, result: done.result, changes: done.changes, seconds: done.seconds, stores: done.stores}
      return {id: req.id, ok: true, result: done.result, changes: done.changes, seconds: done.seconds}
    } catch (err) {
      const e = err as {name?: string; message?: string; code?: unknown}
      const stores = committedStoreChangesOf(err)
      return {id: req.id, ok: false, error: {name: e.name ?? 'Error', message: e.message ?? String(err), code: typeof e.code === 'string' ? e.code : undefined}, changes: committedChangesOf(err), ...(stores.length > 0 ? {stores} : {})}
    }
  }
}
