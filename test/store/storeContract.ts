import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import {UserError} from '../../src/errors/errors.js'
import {acquireLock} from '../../src/etcd/leaseLock.js'
import {type Store, type WatchEvent, type WatchStatus} from '../../src/store/store.js'

/**
 * StoreHarness is what the contract needs from one implementation: clients over one shared
 * backend, and the two faults every store must survive, done the implementation's way
 * (etcd: revoke from another client, cut TCP under a proxy; memory: its fault helpers).
 */
export interface StoreHarness {
  /** open returns a new client (another process) over the same data; the harness closes it. */
  open(): Store
  /** openCuttable returns a client whose watch streams {@link cut} drops. */
  openCuttable(): Store
  /** expireLease ends lease `id` as the server would when its TTL runs out (its holder is not told first). */
  expireLease(id: string): Promise<void>
  /** cut drops every stream of the cuttable clients and keeps them down until {@link restore}. */
  cut(): Promise<void>
  restore(): Promise<void>
  /** waitMs bounds every wait for something asynchronous (a watch event, a lease loss). */
  waitMs: number
  dispose(): Promise<void>
}

let run = 0

/** LEASE_TTL keeps etcd3's keepalive (every TTL/3) frequent, so a holder hears of a loss within seconds. */
const LEASE_TTL = 3

/**
 * describeStoreContract runs the one contract every {@link Store} must meet (the Vitess
 * topo/memorytopo pattern): EtcdStore on a real etcd and MemoryStore both pass it, so unit
 * tests on the memory twin say something about production.
 */
export function describeStoreContract(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    let h: StoreHarness
    let store: Store
    let other: Store
    // Every test writes under its own prefix, so tests (and runs on a shared server) never meet.
    const fresh = (label: string) => `/contract/${process.pid}-${Date.now().toString(36)}-${run++}/${label}/`
    const until = (fn: () => void | Promise<void>) => vi.waitFor(fn, {timeout: h.waitMs, interval: 20})

    beforeAll(async () => {
      h = await makeHarness()
      store = h.open()
      other = h.open()
    }, 60_000)
    afterAll(async () => {
      await h?.dispose()
    }, 60_000)

    describe('compare-and-swap', () => {
      it('Given a key read at revision R, When another client updates it first, Then update(R) throws CONFLICT and the winner stays', async () => {
        const key = `${fresh('cas')}k`
        const created = await store.create(key, 'v1')
        const winner = await other.update(key, 'winner', created)

        const err = await store.update(key, 'loser', created).catch((e: unknown) => e)

        expect(err).toBeInstanceOf(UserError)
        expect(err).toMatchObject({code: 'CONFLICT'})
        expect(await store.get(key)).toMatchObject({value: 'winner', modRevision: winner, createRevision: created, version: 2n})
        await expect(store.delete(key, created)).rejects.toMatchObject({code: 'CONFLICT'})
        expect(await store.get(key)).toMatchObject({value: 'winner'})
      })

      it('Given an existing key, When created again, Then ALREADY_EXISTS and the value is untouched', async () => {
        const key = `${fresh('create')}k`
        await store.create(key, 'first')
        await expect(other.create(key, 'second')).rejects.toMatchObject({code: 'ALREADY_EXISTS'})
        expect(await store.get(key)).toMatchObject({value: 'first', version: 1n})
      })

      it('Given a transaction with one failing compare among several, Then none of its puts or deletes happen and the revision does not move', async () => {
        const p = fresh('txn')
        const a = await store.put(`${p}a`, 'a1')
        await store.put(`${p}b`, 'b1')
        const before = await store.revision()

        const res = await store.commit({compares: [{key: `${p}a`, modRevision: a}, {key: `${p}b`, modRevision: a}], puts: [{key: `${p}a`, value: 'a2'}, {key: `${p}c`, value: 'c'}], deletes: [`${p}b`]})

        expect(res).toBeUndefined()
        expect(await store.revision()).toBe(before)
        expect((await store.list(p)).items.map((kv) => `${kv.key.slice(p.length)}=${kv.value}`)).toEqual(['a=a1', 'b=b1'])
      })

      it('Given a key deleted and created again, Then its createRevision changes, so a fence on the old one fails', async () => {
        const key = `${fresh('recreate')}k`
        const first = await store.create(key, 'x')
        await store.delete(key)
        const second = await store.create(key, 'y')

        expect(second).toBeGreaterThan(first)
        expect(await store.get(key)).toMatchObject({createRevision: second, version: 1n})
        expect(await store.commit({compares: [{key, createRevision: first}], puts: [{key, value: 'fenced'}]})).toBeUndefined()
        expect(await store.commit({compares: [{key, createRevision: second}], puts: [{key, value: 'ok'}]})).toBeGreaterThan(second)
        expect(await store.get(key)).toMatchObject({value: 'ok', createRevision: second, version: 2n})
      })

      it('Given "absent" compares (0), Then they hold only for keys that do not exist', async () => {
        const p = fresh('absent')
        expect(await store.commit({compares: [{key: `${p}k`, modRevision: 0n}], puts: [{key: `${p}k`, value: '1'}]})).toBeDefined()
        expect(await store.commit({compares: [{key: `${p}k`, modRevision: 0n}], puts: [{key: `${p}k`, value: '2'}]})).toBeUndefined()
        expect(await store.get(`${p}k`)).toMatchObject({value: '1'})
      })
    })

    describe('revisions', () => {
      it('Given a series of writes from two clients, Then every write gets a higher revision than the one before, equal to the key\'s modRevision', async () => {
        const p = fresh('mono')
        let last = await store.revision()
        for (let i = 0; i < 6; i++) {
          const client = i % 2 === 0 ? store : other
          const rev = i % 3 === 2 ? await client.update(`${p}k`, `v${i}`, (await client.get(`${p}k`))!.modRevision) : await client.put(`${p}k`, `v${i}`)
          expect(rev).toBeGreaterThan(last)
          expect((await store.get(`${p}k`))!.modRevision).toBe(rev)
          expect(await store.revision()).toBeGreaterThanOrEqual(rev)
          last = rev
        }
        expect((await store.get(`${p}k`))!.version).toBe(6n)
      })

      it('Given one transaction writing several keys, Then they share one revision; a transaction that changes nothing does not raise it', async () => {
        const p = fresh('shared')
        const rev = (await store.commit({compares: [], puts: [{key: `${p}a`, value: '1'}, {key: `${p}b`, value: '2'}]}))!
        expect((await store.list(p)).items.map((kv) => kv.modRevision)).toEqual([rev, rev])

        const noop = await store.commit({compares: [], deletes: [`${p}never`]})
        expect(noop).toBe(rev)
        expect(await store.revision()).toBe(rev)
      })
    })

    describe('reads at a revision', () => {
      it('Given later updates, deletes and creates, When read at an earlier revision, Then the view is exactly the one at that revision', async () => {
        const p = fresh('at')
        for (const k of ['a', 'b', 'c']) await store.put(`${p}${k}`, `${k}1`)
        const at = await store.revision()
        await other.put(`${p}b`, 'b2')
        await other.delete(`${p}c`)
        await other.put(`${p}d`, 'd1')

        const then = await store.list(p, {revision: at})
        const now = await store.list(p)

        expect(then.revision).toBe(at)
        expect(then.items.map((kv) => `${kv.key.slice(p.length)}=${kv.value}`)).toEqual(['a=a1', 'b=b1', 'c=c1'])
        expect(now.items.map((kv) => `${kv.key.slice(p.length)}=${kv.value}`)).toEqual(['a=a1', 'b=b2', 'd=d1'])
        expect(now.revision).toBeGreaterThan(at)
        expect(await store.getAt(`${p}b`, at)).toMatchObject({kv: {value: 'b1', version: 1n}, revision: at})
        expect((await store.getAt(`${p}d`, at)).kv).toBeUndefined()
      })

      it('Given a revision not reached yet, Then reading at it is BAD_INPUT naming it', async () => {
        const future = (await store.revision()) + 1000n
        await expect(store.list(fresh('future'), {revision: future})).rejects.toMatchObject({code: 'BAD_INPUT', message: expect.stringContaining(String(future))})
        await expect(store.getAt('/contract/x', future)).rejects.toMatchObject({code: 'BAD_INPUT'})
      })

      it('Given a compaction past revision R, Then reads at R are CONFLICT, reads at the compaction revision still work, and compacting again is a no-op', async () => {
        const p = fresh('compact')
        await store.put(`${p}k`, 'old')
        const old = await store.revision()
        await store.put(`${p}k`, 'new')
        const kept = await store.revision()
        await store.compact(kept)
        await store.compact(old)

        await expect(store.list(p, {revision: old})).rejects.toMatchObject({code: 'CONFLICT', message: expect.stringContaining('compacted')})
        await expect(store.getAt(`${p}k`, old)).rejects.toMatchObject({code: 'CONFLICT'})
        expect((await store.getAt(`${p}k`, kept)).kv).toMatchObject({value: 'new'})
      })
    })

    describe('paged listing', () => {
      // Byte order, not UTF-16 order: U+FFFF (ef bf bf) sorts before U+1F600 (f0 9f 98 80) in etcd.
      const names = [...Array.from({length: 23}, (_, i) => `k${String(i).padStart(2, '0')}`), 'z\uffff', 'z\u{1f600}']

      it('Given 25 keys (and keys just outside the prefix), When listed in pages of 4, Then each key comes back once, in byte order', async () => {
        const p = fresh('pages')
        for (const n of [...names].reverse()) await store.put(`${p}${n}`, n)
        await store.put(p.slice(0, -1), 'the prefix without its slash')
        await store.put(`${p.slice(0, -1)}0`, 'a sibling after the prefix')

        const {items} = await store.list(p, {pageSize: 4})

        expect(items.map((kv) => kv.key.slice(p.length))).toEqual(names)
        const first = await store.listPage(p, {limit: 4})
        expect(first.more).toBe(true)
        const last = await store.listPage(p, {after: `${p}k20`, limit: 4})
        expect(last.items.map((kv) => kv.key.slice(p.length))).toEqual(['k21', 'k22', 'z\uffff', 'z\u{1f600}'])
        expect(last.more).toBe(false)
      })

      it('Given an end key, When listed in pages of 4, Then only the keys strictly before it come back, the start of the whole listing', async () => {
        const p = fresh('ends')
        for (const n of names) await store.put(`${p}${n}`, n)
        await store.put(`${p.slice(0, -1)}0`, 'a sibling after the prefix')
        const below = await store.list(p, {pageSize: 4, end: `${p}k10`})
        expect(below.items.map((kv) => kv.key.slice(p.length))).toEqual(names.filter((n) => n < 'k10'))
        const exact = await store.listPage(p, {limit: 100, after: `${p}k03`, end: `${p}k05`})
        expect(exact.items.map((kv) => kv.key.slice(p.length))).toEqual(['k04'])
        expect(exact.more).toBe(false)
        const all = await store.list(p, {pageSize: 4, revision: below.revision})
        expect(below.items.map((kv) => kv.key)).toEqual(all.items.slice(0, below.items.length).map((kv) => kv.key))
        expect(all.items.length).toBeGreaterThan(below.items.length)
      })

      it('Given a scan in pages of 4, Then each page holds at most 4 keys at the first page\'s revision, and stopping early reads no further page', async () => {
        const p = fresh('scan')
        for (const n of names.slice(0, 10)) await store.put(`${p}${n}`, n)
        const pages: string[][] = []
        let revision: bigint | undefined
        for await (const page of store.scan(p, {pageSize: 4})) {
          pages.push(page.items.map((kv) => kv.key.slice(p.length)))
          revision ??= page.revision
          expect(page.revision).toBe(revision)
          if (pages.length === 1) await other.put(`${p}k09`, 'changed after the first page')
        }
        expect(pages).toEqual([names.slice(0, 4), names.slice(4, 8), names.slice(8, 10)])
        const spy = vi.spyOn(store, 'listPage')
        for await (const page of store.scan(p, {pageSize: 4})) if (page.items.length > 0) break
        expect(spy).toHaveBeenCalledTimes(1)
        spy.mockRestore()
        const atFirst = await store.list(p, {revision})
        expect(atFirst.items.find((kv) => kv.key === `${p}k09`)?.value).toBe('k09')
      })

      it('Given writes landing between two pages, When the listing goes on at the first page\'s revision, Then it returns the view of that revision', async () => {
        const p = fresh('pinned')
        for (const n of names.slice(0, 10)) await store.put(`${p}${n}`, n)
        const first = await store.listPage(p, {limit: 4})
        await other.put(`${p}a-before`, 'x') // sorts before the pages read so far
        await other.put(`${p}zz-after`, 'x') // sorts after every key
        await other.delete(`${p}k06`) // not paged yet

        const rest = await store.list(p, {pageSize: 4, revision: first.revision})
        const later = await store.list(p, {pageSize: 4})

        expect(rest.items.map((kv) => kv.key.slice(p.length))).toEqual(names.slice(0, 10))
        expect(later.items.map((kv) => kv.key.slice(p.length))).toEqual(['a-before', ...names.slice(0, 10).filter((n) => n !== 'k06'), 'zz-after'])
      })
    })

    describe('leases', () => {
      it('Given keys attached to a lease, When the lease expires, Then they are deleted in one revision, the rest stays, the holder hears it lost, and the lease takes no more keys', async () => {
        const p = fresh('expiry')
        const lease = await store.grantLease(LEASE_TTL)
        const lost = vi.fn()
        lease.onLost(lost)
        await store.put(`${p}a`, '1', lease.id)
        await store.put(`${p}b`, '2', lease.id)
        await store.put(`${p}plain`, '3')
        expect((await store.get(`${p}a`))!.lease).toBe(lease.id)
        const events: WatchEvent[] = []
        const watch = other.watch(p, {fromRevision: await store.revision(), onEvent: (e) => events.push(e), resync: () => other.revision()})
        try {
          await h.expireLease(lease.id)

          await until(() => expect(events.filter((e) => e.type === 'delete').map((e) => e.key)).toEqual([`${p}a`, `${p}b`]))
          expect(events[0]!.modRevision).toBe(events[1]!.modRevision)
          expect((await store.list(p)).items.map((kv) => kv.key)).toEqual([`${p}plain`])
          await until(() => expect(lease.lost).toBe(true))
          await until(() => expect(lost).toHaveBeenCalledTimes(1))
          await expect(store.put(`${p}c`, '4', lease.id)).rejects.toMatchObject({code: 'NOT_FOUND'})
          expect(await store.get(`${p}c`)).toBeUndefined()
        } finally {
          await watch.close()
        }
      })

      it('Given a lease, When its holder revokes it (twice), Then its keys are gone and it reports lost', async () => {
        const p = fresh('revoke')
        const lease = await store.grantLease(LEASE_TTL)
        await store.put(`${p}k`, 'x', lease.id)

        await lease.revoke()
        await lease.revoke()

        expect(await store.get(`${p}k`)).toBeUndefined()
        expect(lease.lost).toBe(true)
        await other.revokeLease(lease.id) // unknown by now: a no-op
      })

      it('Given a key moved from a lease to no lease, When the lease expires, Then the key survives', async () => {
        const p = fresh('detach')
        const lease = await store.grantLease(LEASE_TTL)
        await store.put(`${p}k`, 'leased', lease.id)
        await store.put(`${p}k`, 'free')
        await h.expireLease(lease.id)
        await until(() => expect(lease.lost).toBe(true))
        expect(await store.get(`${p}k`)).toMatchObject({value: 'free', lease: '0'})
      })
    })

    describe('watch', () => {
      it('Given a watch from an old revision, Then it replays every change since, in revision order, including several keys of one transaction', async () => {
        const p = fresh('replay')
        const from = await store.revision()
        await store.put(`${p}a`, '1')
        await store.commit({compares: [], puts: [{key: `${p}b`, value: '2'}, {key: `${p}c`, value: '3'}]})
        await store.delete(`${p}a`)
        await store.put(`${p.slice(0, -1)}x`, 'outside the prefix')
        const events: WatchEvent[] = []

        const watch = other.watch(p, {fromRevision: from, onEvent: (e) => events.push(e), resync: () => other.revision()})
        try {
          await until(() => expect(events).toHaveLength(4))
          expect(events.map((e) => `${e.type} ${e.key.slice(p.length)}`)).toEqual(['put a', 'put b', 'put c', 'delete a'])
          expect(events[1]!.modRevision).toBe(events[2]!.modRevision)
          expect(events.map((e) => e.modRevision)).toEqual([...events.map((e) => e.modRevision)].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)))
          expect(watch.lastRevision()).toBe(events[3]!.modRevision)
        } finally {
          await watch.close()
        }
      })

      it('Given a watch whose stream drops, When keys change while it is down, Then after it comes back every event arrives once, in order', async () => {
        const p = fresh('drop')
        const watching = h.openCuttable()
        const events: WatchEvent[] = []
        const statuses: WatchStatus[] = []
        const resync = vi.fn(() => watching.revision())
        const watch = watching.watch(p, {fromRevision: await store.revision(), onEvent: (e) => events.push(e), resync, onStatus: (s) => statuses.push(s)})
        try {
          for (const k of ['a', 'b', 'c']) await store.put(`${p}${k}`, 'before')
          await until(() => expect(events).toHaveLength(3))

          await h.cut()
          await until(() => expect(statuses).toContain('disconnected'))
          for (const k of ['d', 'e']) await store.put(`${p}${k}`, 'while down')
          await store.commit({compares: [], puts: [{key: `${p}f`, value: 'while down'}], deletes: [`${p}a`]})
          await h.restore()

          await until(() => expect(events).toHaveLength(7))
          expect(events.map((e) => `${e.type} ${e.key.slice(p.length)}`)).toEqual(['put a', 'put b', 'put c', 'put d', 'put e', 'put f', 'delete a'])
          expect(resync).not.toHaveBeenCalled()
          // Nothing trickles in twice afterwards.
          await store.put(`${p}marker`, 'x')
          await until(() => expect(events).toHaveLength(8))
          expect(events[7]!.key).toBe(`${p}marker`)
          expect(statuses.at(-1)).toBe('connected')
        } finally {
          await watch.close()
        }
      })

      it('Given a watch down while the history it needs is compacted, Then it resyncs once and delivers every event after the resync\'s revision', async () => {
        const p = fresh('compacted')
        const watching = h.openCuttable()
        const events: WatchEvent[] = []
        let resyncedAt = 0n
        const resync = vi.fn(async () => {
          resyncedAt = (await watching.list(p)).revision
          return resyncedAt
        })
        const watch = watching.watch(p, {fromRevision: await store.revision(), onEvent: (e) => events.push(e), resync})
        try {
          await store.put(`${p}a`, '1')
          await until(() => expect(events).toHaveLength(1))
          await h.cut()
          await store.put(`${p}lost`, '2')
          await store.put(`${p}.pad`, 'x') // the compaction revision must be past the resume revision + 1
          await store.compact(await store.revision())
          await h.restore()

          // Only once the resync read is done: a write before it is covered by the read, not by an event.
          await until(() => expect(resyncedAt).toBeGreaterThan(0n))
          await store.put(`${p}after`, '3')
          await until(() => expect(events.at(-1)?.key).toBe(`${p}after`))
          expect(events.every((e) => e === events[0] || e.modRevision > resyncedAt)).toBe(true)
          expect(resync).toHaveBeenCalledTimes(1)
        } finally {
          await watch.close()
        }
      })
    })

    describe('lease lock', () => {
      it('Given a held lock, When another client tries to take it, Then LOCK_HELD names the holder; after release the other gets it', async () => {
        const key = `${fresh('lock')}executor`
        const a = await acquireLock(store, key, 'first')

        const err = await acquireLock(other, key, 'second').catch((e: unknown) => e)

        expect(err).toMatchObject({code: 'LOCK_HELD', message: expect.stringContaining('first')})
        await a.release()
        const b = await acquireLock(other, key, 'second')
        expect(b.createRevision).toBeGreaterThan(a.createRevision)
        await b.release()
        expect(await store.get(key)).toBeUndefined()
      })

      it('Given a holder whose lease expired and a new holder, Then the old holder\'s fenced writes fail and the new holder\'s land', async () => {
        const p = fresh('fence')
        const key = `${p}lock`
        const a = await acquireLock(store, key, 'deposed', LEASE_TTL)
        expect(await store.commit({compares: [a.fence], puts: [{key: `${p}data`, value: 'a1'}]})).toBeDefined()

        await h.expireLease(a.lease.id)
        await until(() => expect(store.get(key)).resolves.toBeUndefined())
        const b = await acquireLock(other, key, 'successor')

        expect(await store.commit({compares: [a.fence], puts: [{key: `${p}data`, value: 'a2'}]})).toBeUndefined()
        expect(await other.commit({compares: [b.fence], puts: [{key: `${p}data`, value: 'b1'}]})).toBeDefined()
        expect(await store.get(`${p}data`)).toMatchObject({value: 'b1'})
        await until(() => expect(a.lease.lost).toBe(true))
        // The deposed holder's release must not delete the successor's lock.
        await a.release()
        expect(await store.get(key)).toMatchObject({createRevision: b.createRevision})
        await b.release()
      })
    })
  })
}
