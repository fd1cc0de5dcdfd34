import {describe, expect, it} from 'vitest'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {allocTransferable} from '../../src/node/transferableBatch.js'
import {engineFixture, rec, v} from './engineFixture.js'

const failures: Error[] = []
const open = engineFixture('handed', {writerThread: true, onWriterFailed: (err) => void failures.push(err)})

/** settle resolves to how `p` ended within `ms` (pending: neither). */
const settle = (p: Promise<unknown>, ms: number): Promise<'resolved' | 'rejected' | 'pending'> =>
  Promise.race([p.then(() => 'resolved' as const, () => 'rejected' as const), new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))])

describe('a copy batch handed to the writer thread twice', {timeout: 30_000}, () => {
  // Node's postMessage does not throw for a detached buffer in the transfer list: it drops the
  // message. The request stayed in flight with no reply, so every write queued behind it (client
  // writes included) hung, and onWriterFailed never heard of it.
  it('given an encoding handed over once, when it is handed over again (detached), then only that call rejects: nothing hangs and later writes commit', async () => {
    const {engine} = open()
    failures.length = 0
    const records = [rec('handed', v(7), 'h')]
    const handed = encodeRecords(records, allocTransferable)
    await engine.applyCopyBatch(records, 'copy/h', '{"n":1}', handed, false)
    expect(handed.length).toBe(0)
    expect(await settle(engine.applyCopyBatch(records, 'copy/h', '{"n":2}', handed, false), 3_000)).toBe('rejected')
    expect(await settle(engine.apply([rec('after', v(8), 'a')]), 3_000)).toBe('resolved')
    expect(failures).toEqual([])
    expect(engine.get(Buffer.from('after'))?.value?.toString()).toBe('a')
    expect(engine.metaValue('copy/h')).toBe('{"n":1}')
  })
})
