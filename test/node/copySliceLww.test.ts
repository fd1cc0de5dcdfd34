import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {TokenBucket} from '../../src/throttle/tokenBucket.js'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {encodeFrame} from '../../src/node/copyFrames.js'
import {CopyPuller} from '../../src/node/copyPuller.js'
import {jsonLog} from '../../src/log/jsonLog.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {StorageEngine} from '../../src/node/storageEngine.js'

const ALL = {lo: 0, hi: HASH_SPACE}
const dirs: string[] = []
const engines: StorageEngine[] = []
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close()
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})
function open(): StorageEngine {
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-copy-slice-'))
  dirs.push(dir)
  const e = StorageEngine.open({dir, tombstoneGraceMs: 3_600_000, synchronous: 'NORMAL'})
  engines.push(e)
  return e
}
const v = (wall: number, counter = 0) => formatHlc({wall, counter, writer: 'w'})
const rec = (key: string, version: string, value: string | null): NodeRecord => ({key: Buffer.from(key), version, value: value === null ? null : Buffer.from(value)})

/**
 * A client write (a newer version, or a newer tombstone) committed on the destination
 * between two slices of one copy frame must not be overwritten by the older copied record
 * of the same key in a later slice: applyCopy runs the same LWW merge as client writes.
 */
describe('copy slices keep LWW against client writes committed between slices', () => {
  it('keeps the newer client value and the newer client tombstone', async () => {
    const src = open()
    const dst = open()
    const n = 200
    await src.apply(Array.from({length: n}, (_, i) => rec(`key-${i}`, v(1_000_000, i), `old-${i}-${'x'.repeat(100)}`)))
    // Every key's copy is older than what the client writes below.
    let slices = 0
    const engine = {
      applyCopyBatch: async (records: NodeRecord[], name: string, state: string, encoded?: Buffer, durable?: boolean) => {
        const r = await dst.applyCopyBatch(records, name, state, encoded, durable)
        if (++slices === 1) {
          // Between slice 1 and slice 2: a client overwrites every key and deletes one, newer than the copy.
          await dst.apply(Array.from({length: n}, (_, i) => rec(`key-${i}`, v(2_000_000, i), i === 7 ? null : `new-${i}`)))
        }
        return r
      },
      metaValue: (name: string) => dst.metaValue(name),
      setMetaValue: (name: string, value: string | null) => dst.setMetaValue(name, value),
      adoptFloors: (...args: Parameters<StorageEngine['adoptFloors']>) => dst.adoptFloors(...args),
    }
    const p = new CopyPuller({
      engine,
      openStream: async function* (_s, _shard, _epoch, cursor) {
        const page = src.scan(ALL, cursor, 1 << 20) // one frame with everything
        yield encodeFrame(encodeRecords(page.records), page.cursor, page.cursor === undefined)
      },
      fence: async () => ALL,
      sliceBytes: 2048,
      receive: new TokenBucket(null, Date.now),
      now: Date.now,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      log: jsonLog({}, () => {}),
    })
    p.pull({shard: 1, epoch: 1, moveId: 'm', sources: [{node: 's', address: 'x'}], rate: null, frameBytes: 1 << 20})
    const st = await p.settled(1, 10_000)
    expect(st.state).toBe('done')
    expect(slices).toBeGreaterThan(5)
    for (let i = 0; i < n; i++) {
      const got = dst.get(Buffer.from(`key-${i}`))
      if (i === 7) expect(got?.value).toBeNull()
      else expect(got?.value?.toString()).toBe(`new-${i}`)
    }
  })
})
