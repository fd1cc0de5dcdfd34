import {startPrivateEtcd} from '../../support/privateEtcd.js'
import {startTcpProxy} from '../../support/tcpProxy.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {describeStoreContract} from '../../store/storeContract.js'

// A private etcd: the contract compacts history, which must not disturb other files' watches.
describeStoreContract('EtcdStore on a real etcd', async () => {
  const etcd = await startPrivateEtcd()
  const proxy = await startTcpProxy(etcd.endpoint)
  const stores = new StoreSet()
  const cluster = uniqueCluster('contract')
  const admin = stores.open(etcd.endpoint, cluster)
  return {
    open: () => stores.open(etcd.endpoint, cluster),
    openCuttable: () => stores.open(proxy.endpoint, cluster),
    // The server ends the lease as at TTL expiry; the holder learns it from its next keepalive.
    expireLease: (id) => admin.revokeLease(id),
    cut: async () => proxy.block(),
    restore: async () => proxy.unblock(),
    waitMs: 25_000,
    dispose: async () => {
      stores.closeAll()
      await proxy.close()
      await etcd.dispose()
    },
  }
})
