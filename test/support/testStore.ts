import {randomBytes} from 'node:crypto'
import {resolveConnection, type ConnectionInput} from '../../src/config/connectionConfig.js'
import {Etcd3} from 'etcd3'
import {EtcdStore, etcdClientOptions} from '../../src/etcd/etcdStore.js'
import {type Store, type Txn} from '../../src/store/store.js'
import {StoreBase} from '../../src/store/storeBase.js'

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

/** WRITES_OVER_COMMIT are the Store methods StoreBase derives from commit. */
const WRITES_OVER_COMMIT = new Set<PropertyKey>(['create', 'update', 'put', 'delete'])

/**
 * commitsThrough is `reads` (every read, lease and watch) with its transactions (commit, and
 * the create/update/put/delete built on it) sent through `commits` instead: a test can then
 * disturb one client's transactions (through a proxy) and nothing else.
 */
export function commitsThrough(reads: EtcdStore, commits: EtcdStore): Store {
  return new Proxy(reads, {
    get(target, prop, receiver) {
      if (prop === 'commit') return (txn: Txn) => commits.commit(txn)
      if (WRITES_OVER_COMMIT.has(prop)) return (Reflect.get(StoreBase.prototype, prop) as (...a: unknown[]) => unknown).bind(receiver)
      const v = Reflect.get(target, prop) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}
