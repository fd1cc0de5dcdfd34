import {randomBytes} from 'node:crypto'
import {resolveConnection, type ConnectionInput} from '../../src/config/connectionConfig.js'
import {Etcd3} from 'etcd3'
import {EtcdStore, etcdClientOptions} from '../../src/etcd/etcdStore.js'

/**
 * uniqueCluster returns a cluster name no other test file (or earlier run against the same
 * etcd) uses, so files sharing the global etcd never see each other's keys.
 */
export function uniqueCluster(label: string): string {
  return `t-${label}-${randomBytes(4).toString('hex')}`
}

/**
 * storeFor builds an EtcdStore the way the CLI does: flags resolved by resolveConnection
 * (no env, no file), so tests exercise the same TLS/auth plumbing users get. The caller
 * closes it (see {@link StoreSet}).
 */
export function storeFor(endpoint: string, cluster: string, extra: Omit<ConnectionInput, 'endpoints' | 'cluster'> = {}): EtcdStore {
  return new EtcdStore(resolveConnection({flags: {...extra, endpoints: endpoint, cluster}, env: {}}))
}

/** StoreSet opens stores for one test file and closes them all in its afterAll. */
export class StoreSet {
  private readonly stores: EtcdStore[] = []

  /** open is {@link storeFor}, remembering the store for closeAll. */
  open(endpoint: string, cluster: string, extra: Omit<ConnectionInput, 'endpoints' | 'cluster'> = {}): EtcdStore {
    const store = storeFor(endpoint, cluster, extra)
    this.stores.push(store)
    return store
  }

  /** closeAll closes every store opened here. Idempotent. */
  closeAll(): void {
    for (const s of this.stores.splice(0)) s.close()
  }
}

/**
 * etcdAdminClient is a raw etcd3 client for test set-up the Store does not offer (users,
 * roles, enabling auth), built with the CLI's connection options. The caller closes it.
 */
export function etcdAdminClient(endpoint: string, extra: Omit<ConnectionInput, 'endpoints' | 'cluster'> = {}): Etcd3 {
  return new Etcd3(etcdClientOptions(resolveConnection({flags: {...extra, endpoints: endpoint, cluster: 'admin'}, env: {}})))
}
