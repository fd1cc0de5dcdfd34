import {describe, expect, it} from 'vitest'
import {findOwnCommit, type OwnCommitReads} from '../../src/etcd/ownCommit.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {type Txn} from '../../src/store/store.js'

const P = '/shardctl/c/'

function readsOf(store: MemoryStore): OwnCommitReads {
  return {
    revision: () => store.revision(),
    getAt: (key, revision) => store.getAt(key, revision),
    anyUnder: async (prefix, revision) => (await store.listPage(prefix, {limit: 1, revision})).items.length > 0,
  }
}

/** landed commits `txn` (its first attempt, whose answer the caller never saw) and returns its revision. */
async function landed(store: MemoryStore, txn: Txn): Promise<bigint> {
  const rev = await store.commit(txn)
  if (rev === undefined) throw new Error('set-up: the txn did not land')
  return rev
}

describe('findOwnCommit: did an earlier attempt of a resent transaction land?', () => {
  it('Given a create and an update of two keys that landed, Then it returns the revision they landed at', async () => {
    const store = new MemoryStore()
    const a = await store.create(`${P}a`, '1')
    const txn: Txn = {compares: [{key: `${P}a`, modRevision: a}, {key: `${P}b`, createRevision: 0n}], puts: [{key: `${P}a`, value: '2'}, {key: `${P}b`, value: 'x'}], deletes: [`${P}gone`]}
    const rev = await landed(store, txn)

    expect(await findOwnCommit(txn, readsOf(store))).toBe(rev)
  })

  it('Given another writer changed a put key since, Then nothing proves the write ours: undefined', async () => {
    const store = new MemoryStore()
    const txn: Txn = {compares: [{key: `${P}a`, createRevision: 0n}], puts: [{key: `${P}a`, value: 'mine'}]}
    const rev = await landed(store, txn)
    await store.update(`${P}a`, 'theirs', rev)

    expect(await findOwnCommit(txn, readsOf(store))).toBeUndefined()
  })

  it('Given the same value written by someone else from a state our compares refuse, Then undefined (a genuine conflict)', async () => {
    const store = new MemoryStore()
    const a = await store.create(`${P}a`, '1')
    await store.update(`${P}a`, '2', a)
    // Ours expected revision `a` and lost; the value happens to match the winner's.
    const txn: Txn = {compares: [{key: `${P}a`, modRevision: a}], puts: [{key: `${P}a`, value: '2'}]}
    await store.update(`${P}a`, '3', (await store.get(`${P}a`))!.modRevision)
    await store.update(`${P}a`, '2', (await store.get(`${P}a`))!.modRevision)

    expect(await findOwnCommit(txn, readsOf(store))).toBeUndefined()
  })

  it('Given puts found at different revisions, or under another lease, Then undefined', async () => {
    const store = new MemoryStore()
    await store.put(`${P}a`, 'x')
    await store.put(`${P}b`, 'y')
    expect(await findOwnCommit({compares: [{key: `${P}a`, createRevision: 0n}], puts: [{key: `${P}a`, value: 'x'}, {key: `${P}b`, value: 'y'}]}, readsOf(store))).toBeUndefined()

    const lease = await store.grantLease(60)
    const txn: Txn = {compares: [{key: `${P}l`, createRevision: 0n}], puts: [{key: `${P}l`, value: 'holder', lease: lease.id}]}
    await landed(store, {...txn, puts: [{key: `${P}l`, value: 'holder'}]})
    expect(await findOwnCommit(txn, readsOf(store))).toBeUndefined()
  })

  it('Given a key the transaction deletes present at its revision, Then undefined', async () => {
    const store = new MemoryStore()
    await store.put(`${P}d`, 'stays')
    const txn: Txn = {compares: [{key: `${P}a`, createRevision: 0n}], puts: [{key: `${P}a`, value: 'x'}], deletes: [`${P}d`]}
    await store.commit({compares: [], puts: [{key: `${P}a`, value: 'x'}]})

    expect(await findOwnCommit(txn, readsOf(store))).toBeUndefined()
  })

  it('Given the state before the write compacted, Then undefined (not an error)', async () => {
    const store = new MemoryStore()
    const txn: Txn = {compares: [{key: `${P}a`, createRevision: 0n}], puts: [{key: `${P}a`, value: 'x'}]}
    const rev = await landed(store, txn)
    await store.put(`${P}other`, 'y')
    await store.compact(rev + 1n)

    expect(await findOwnCommit(txn, readsOf(store))).toBeUndefined()
  })

  it('Given a delete-only transaction, Then landed exactly when every key and prefix it deletes is empty now', async () => {
    const store = new MemoryStore()
    const k = await store.create(`${P}k`, '1')
    await store.put(`${P}pre/x`, '1')
    const txn: Txn = {compares: [{key: `${P}k`, modRevision: k}], deletes: [`${P}k`], deletePrefixes: [`${P}pre/`]}
    const rev = await landed(store, txn)
    expect(await findOwnCommit(txn, readsOf(store))).toBe(rev)

    await store.put(`${P}pre/y`, 'back')
    expect(await findOwnCommit(txn, readsOf(store))).toBeUndefined()
  })
})
