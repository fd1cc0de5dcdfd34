/**
 * A copy frame's commit gives way to client applies (LwwWriter.applyCopy with a CopyYield,
 * the writer thread's copyYield, StorageWriter's `urgent` group): tries to lose a write, to
 * store a resume cursor ahead of its records, or to leave the main thread's digest cache
 * behind the rows, by interleaving applies inside a copy frame.
 */
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {StorageEngine} from '../../src/node/storageEngine.js'
import {openWriterCore} from '../../src/node/storageWriterCore.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('copy-yield', {synchronous: 'FULL'})

const KiB64 = Buffer.alloc(64 * 1024, 7)

/** bigRecords are `n` records `k-000..` of 64 KiB at version `ver`. */
function bigRecords(n: number, ver: string): NodeRecord[] {
  return Array.from({length: n}, (_, i) => ({key: Buffer.from(`k-${String(i).padStart(3, '0')}`), version: ver, value: KiB64}))
}

/** rowsOf reads every row through a fresh connection (what a restart would see). */
function rowsOf(dir: string): Map<string, string> {
  const db = new Database(join(dir, DB_FILE), {readonly: true})
  try {
    return new Map((db.prepare('SELECT k, ver FROM kv').all() as {k: Buffer; ver: string}[]).map((r) => [r.k.toString(), r.ver]))
  } finally {
    db.close()
  }
}

/** metaOf reads meta `name` through a fresh connection. */
function metaOf(dir: string, name: string): string | undefined {
  const db = new Database(join(dir, DB_FILE), {readonly: true})
  try {
    return (db.prepare('SELECT value FROM meta WHERE name = ?').get(name) as {value: string} | undefined)?.value
  } finally {
    db.close()
  }
}

/** fineOf reads the stored fine digest cells through a fresh connection: cell → [xhi, xlo, n, bytes]. */
function fineOf(file: string): Map<number, number[]> {
  const db = new Database(file, {readonly: true})
  try {
    return new Map((db.prepare('SELECT f, xhi, xlo, n, bytes FROM fine').all() as {f: number; xhi: number; xlo: number; n: number; bytes: number}[]).map((r) => [r.f, [r.xhi, r.xlo, r.n, r.bytes]]))
  } finally {
    db.close()
  }
}

/** recomputedDigest reopens `dir` with its digest cells recomputed from the rows and returns its digest of the whole space. */
function recomputedDigest(dir: string): ReturnType<StorageEngine['digest']> {
  const db = new Database(join(dir, DB_FILE))
  db.prepare("DELETE FROM meta WHERE name = 'format'").run()
  db.close()
  const fresh = StorageEngine.open({dir, tombstoneGraceMs: 3_600_000, clock: () => 0, writerThread: false})
  try {
    return fresh.digest(ALL)
  } finally {
    void fresh.close()
  }
}

describe('a copy frame yields to client applies', {timeout: 60_000}, () => {
  it('given applies queued behind a 16 MiB copy frame, when all settle, then the applies were answered before the frame, LWW holds, the cursor is the frame\'s, and the digest cache equals one recomputed from the rows', async () => {
    const {engine, dir} = open()
    // Client writes newer than the copy's versions of the same keys, one of them in flight with the copy.
    await engine.apply([rec('k-010', v(50), 'client-old'), rec('k-200', v(50), 'client')], {clientWrite: true})
    const frame = bigRecords(256, v(10))
    const order: string[] = []
    const copy = engine.applyCopyBatch(frame, 'copy/1', '{"cursor":"after-frame"}', undefined, false).then(() => order.push('copy'))
    const applies = [rec('k-010', v(60), 'client-new'), rec('k-255', v(5), 'older-than-copy'), rec('c-1', v(70), 'other')].map((r, i) =>
      engine.apply([r], {clientWrite: true}).then(() => order.push(`apply ${i}`)),
    )
    await Promise.all([copy, ...applies])
    // 256 records of 64 KiB take far longer than the 5 ms a frame runs before it lets applies past.
    expect(order.indexOf('copy')).toBe(order.length - 1)
    const rows = rowsOf(dir)
    expect(rows.size).toBe(257)
    expect(rows.get('k-010')).toBe(v(60))
    expect(rows.get('k-200')).toBe(v(50))
    expect(rows.get('k-255')).toBe(v(10))
    expect(rows.get('c-1')).toBe(v(70))
    expect(metaOf(dir, 'copy/1')).toBe('{"cursor":"after-frame"}')
    expect(engine.get(Buffer.from('k-010'))?.value?.toString()).toBe('client-new')
    const digest = engine.digest(ALL)
    await engine.close()
    expect(recomputedDigest(dir)).toEqual(digest)
  })

  it('given a writer that yields after every record, when a frame commits, then until its last transaction the stored cursor is the one before the frame, each yield reports the cells committed so far, and those reports in order rebuild the writer\'s cells', async () => {
    const {engine, dir} = open()
    await engine.setMetaValue('copy/7', 'before-frame')
    await engine.apply([rec('k-003', v(90), 'newer')], {clientWrite: true})
    await engine.close()
    const file = join(dir, DB_FILE)
    const core = openWriterCore({file, synchronous: 'FULL', pageSize: 16384})
    const frame = bigRecords(8, v(10))
    const seen: {meta: string | undefined; rows: number}[] = []
    const reports: Float64Array[] = []
    const cells = fineOf(file)
    const reply = core({op: 'copy', id: 1, batch: encodeRecords(frame), name: 'copy/7', state: 'after-frame', durable: false}, {
      afterMs: 0,
      waiting: () => true,
      yielded: (changes) => {
        reports.push(changes)
        seen.push({meta: metaOf(dir, 'copy/7'), rows: rowsOf(dir).size})
      },
    })
    if (!('ok' in reply) || !reply.ok) throw new Error(`the copy failed: ${JSON.stringify(reply)}`)
    // Every record but the last ended a transaction of its own.
    expect(seen).toEqual(Array.from({length: 7}, (_, i) => ({meta: 'before-frame', rows: i + 1 + (i >= 3 ? 0 : 1)})))
    expect(metaOf(dir, 'copy/7')).toBe('after-frame')
    // k-003 is newer here than the copy's: ignored, and reported superseded at its index in the frame.
    expect(reply.result).toEqual({applied: 7, ignored: 1, superseded: [{i: 3, version: v(90)}]})
    // Cell contents taken in report order (what the main thread's cache does) end equal to the stored cells.
    for (const c of [...reports, reply.changes]) for (let i = 0; i + 4 < c.length; i += 5) cells.set(c[i]!, [c[i + 1]!, c[i + 2]!, c[i + 3]!, c[i + 4]!])
    core({op: 'close', id: 2})
    expect(cells).toEqual(fineOf(file))
  })
})
