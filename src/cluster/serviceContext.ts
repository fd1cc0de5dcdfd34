import {type ConnectionConfig} from '../config/connectionConfig.js'
import {type ClusterKeys, keysOf} from '../etcd/keys.js'
import {type Store} from '../store/store.js'

/**
 * ServiceContext is what every etcd-backed service gets injected: the store, the cluster
 * it manages, that cluster's keys and a clock (so tests control time).
 */
export interface ServiceContext {
  /** store is the source of truth (EtcdStore in production, MemoryStore in unit tests). */
  store: Store
  cluster: string
  keys: ClusterKeys
  clock: () => Date
}

/** makeServiceContext builds a context for `conn.cluster` over `store`. */
export function makeServiceContext(store: Store, conn: Pick<ConnectionConfig, 'cluster'>, clock: () => Date = () => new Date()): ServiceContext {
  return {store, cluster: conn.cluster, keys: keysOf(conn.cluster), clock}
}
