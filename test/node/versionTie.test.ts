import {describe, expect, it} from 'vitest'
import {engineFixture, rec, v} from './engineFixture.js'

// A tie is two different records of one key at one HLC version. Routers never issue one
// version twice within a process, but a router restarted under the same id (the default
// `<host>-<pid>` is reused by a container restarted with its router as pid 1, and
// SHARDCTL_ROUTER_ID is fixed by design) starts a fresh clock: after a clock step back
// within the offset bound it can issue a version its previous incarnation already used.
// The replica keeps the tie's LWW winner; the loser must not read as an acknowledgement.
const open = engineFixture('tie', {writerThread: false})

describe('StorageEngine apply: a record that loses an equal-version tie', () => {
  it('Given a stored value at version X, When a smaller value arrives at X, Then it is not stored and is reported superseded (not an ack)', async () => {
    const {engine} = open()
    await engine.apply([rec('k', v(1000), 'zz')])
    const r = await engine.apply([rec('k', v(1000), 'aa')], {clientWrite: true})
    expect(engine.get(Buffer.from('k'))?.value?.toString()).toBe('zz')
    expect(r.superseded).toEqual([{i: 0, version: v(1000)}])
  })

  it('Given a stored value at version X, When an empty value arrives at X, Then it is reported superseded too (the tie is decided on the stored bytes, not a placeholder)', async () => {
    const {engine} = open()
    await engine.apply([rec('k', v(1000), 'zz')])
    const r = await engine.apply([rec('k', v(1000), '')], {clientWrite: true})
    expect(engine.get(Buffer.from('k'))?.value?.toString()).toBe('zz')
    expect(r.superseded).toEqual([{i: 0, version: v(1000)}])
  })

  it('Given a stored tombstone at version X, When a value arrives at X, Then the tombstone stays and the value is reported superseded', async () => {
    const {engine} = open()
    await engine.apply([rec('k', v(1000), null)])
    const r = await engine.apply([rec('k', v(1000), 'aa')], {clientWrite: true})
    expect(engine.get(Buffer.from('k'))?.value).toBeNull()
    expect(r.superseded).toEqual([{i: 0, version: v(1000)}])
  })

  it('Given a stored record, When the identical record arrives again (a retry), Then it is an idempotent success: ignored, not superseded', async () => {
    const {engine} = open()
    await engine.apply([rec('k', v(1000), 'zz'), rec('t', v(1000), null), rec('e', v(1000), '')])
    const r = await engine.apply([rec('k', v(1000), 'zz'), rec('t', v(1000), null), rec('e', v(1000), '')], {clientWrite: true})
    expect(r).toMatchObject({applied: 0, ignored: 3, superseded: []})
  })

  it('Given a stored value at version X, When a larger value or a tombstone arrives at X, Then it wins the tie and is stored', async () => {
    const {engine} = open()
    await engine.apply([rec('k', v(1000), 'aa'), rec('d', v(1000), 'aa')])
    const r = await engine.apply([rec('k', v(1000), 'zz'), rec('d', v(1000), null)], {clientWrite: true})
    expect(r).toMatchObject({applied: 2, superseded: []})
    expect(engine.get(Buffer.from('k'))?.value?.toString()).toBe('zz')
    expect(engine.get(Buffer.from('d'))?.value).toBeNull()
  })
})
