import {Etcd3} from 'etcd3'
import {afterAll, inject} from 'vitest'

/**
 * The integration project's setup file: after each file, it fails that file when the shared
 * etcd's history was compacted. A compaction fails every other file's read pinned to an
 * older revision (a follower's start-up listing) and cancels their watches, at whatever
 * moment it lands: those files then fail now and then, far from the cause. Checked here,
 * the file that compacts fails every time. It must start its own etcd (privateEtcd.ts).
 * (A failing check in globalEtcd's teardown would only be logged: vitest exits 0.)
 */
afterAll(async () => {
  const client = new Etcd3({hosts: inject('etcdEndpoint'), defaultCallOptions: () => ({deadline: Date.now() + 5000})})
  try {
    await client.get('/').revision('1').exec()
  } catch (err) {
    // Anything else (etcd unreachable) is not this check's business: the file's own reads saw it.
    if (/compacted/.test(String(err))) throw new Error('the shared test etcd was compacted (by this file or one running beside it): a test that compacts must start its own etcd (test/support/privateEtcd.ts)', {cause: err})
  } finally {
    client.close()
  }
})
