import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type Etcd3} from 'etcd3'
import {rawRange, rawRangeAvailable} from '../../../src/etcd/rawRange.js'
import {prefixEnd} from '../../../src/store/keyRange.js'
import {startPrivateEtcd, type PrivateEtcd} from '../../support/privateEtcd.js'
import {etcdAdminClient, uniqueCluster} from '../../support/testStore.js'

/**
 * The hand-decoded Range (what EtcdStore's page reads use) against etcd3's own range call on a
 * real etcd. A private etcd: this file compacts its history (which on the shared etcd failed
 * other files' reads pinned to an older revision, followerStartUnderWrites' start-up listing),
 * and compares the revision two reads at "the current revision" answer with, which only holds
 * while no other file writes to the same etcd between them.
 */
const prefix = `/shardctl/${uniqueCluster('rawrange')}/`
let etcd: PrivateEtcd
let client: Etcd3

/** viaEtcd3 is the same range through etcd3's decode, in the store's StoredValue form. */
async function viaEtcd3(key: string, end: string, limit: number, revision?: bigint) {
  const b = client.getAll().inRange({start: key, end}).limit(limit)
  if (revision !== undefined) b.revision(revision.toString())
  const res = await b.exec()
  return {
    kvs: res.kvs.map((kv) => ({key: kv.key.toString(), value: kv.value.toString(), modRevision: BigInt(kv.mod_revision), createRevision: BigInt(kv.create_revision), version: BigInt(kv.version), lease: String(kv.lease)})),
    more: res.more,
    revision: BigInt(res.header.revision),
  }
}

beforeAll(async () => {
  etcd = await startPrivateEtcd()
  client = etcdAdminClient(etcd.endpoint)
  for (let i = 0; i < 30; i++) await client.put(`${prefix}k${String(i).padStart(3, '0')}`).value(JSON.stringify({i, text: 'é ✓ 𝄞'}))
  await client.put(`${prefix}k005`).value('rewritten') // version 2, a newer mod revision than its create revision
  const lease = client.lease(60)
  await lease.put(`${prefix}leased`).value('') // an empty value and a lease id (a large int64)
  await client.put(`${prefix.slice(0, -1)}0sibling`).value('outside the prefix')
})
afterAll(async () => {
  client?.close()
  await etcd?.dispose()
})

describe('rawRange on a real etcd', () => {
  it('Given the client etcdClientOptions builds, Then the raw path is available (EtcdStore does not fall back to etcd3)', () => {
    expect(rawRangeAvailable(client)).toBe(true)
  })

  it('Given pages of every size, at the current and at an older revision, Then it returns exactly what etcd3 decodes', async () => {
    const end = prefixEnd(prefix)
    const old = (await viaEtcd3(prefix, end, 1)).revision
    await client.put(`${prefix}k010`).value('after the old revision')
    for (const limit of [0, 1, 7, 31, 100]) {
      for (const revision of [undefined, old]) {
        const raw = await rawRange(client, {key: prefix, rangeEnd: end, limit, revision}, 5000)
        const ref = await viaEtcd3(prefix, end, limit, revision)
        expect(raw.kvs).toEqual(ref.kvs)
        expect(raw.more).toBe(ref.more)
        expect(raw.revision).toBe(ref.revision)
      }
    }
    const all = await rawRange(client, {key: prefix, rangeEnd: end, limit: 0}, 5000)
    expect(all.kvs).toHaveLength(31)
    expect(all.kvs.find((kv) => kv.key.endsWith('leased'))?.lease).not.toBe('0')
  })

  it('Given a compacted revision, Then it rejects with the etcd3 error the store maps (not a silent empty page)', async () => {
    const before = (await viaEtcd3(prefix, prefixEnd(prefix), 1)).revision
    await client.put(`${prefix}k000`).value('bump')
    const now = (await viaEtcd3(prefix, prefixEnd(prefix), 1)).revision
    await client.kv.compact({revision: now.toString()})
    await expect(rawRange(client, {key: prefix, rangeEnd: prefixEnd(prefix), limit: 1, revision: before}, 5000)).rejects.toThrow(/compacted/)
  })
})
