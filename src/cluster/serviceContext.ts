import {type ConnectionConfig} from '../config/connectionConfig.js'
import {type EtcdStore} from '../etcd/etcdStore.js'
import {type ClusterKeys, keysOf} from '../etcd/keys.js'

/**
 * ServiceContext is what every etcd-backed service gets injected: the store, the cluster
 * it manages, that cluster's keys and a clock (so tests control time).
 */
export interface ServiceContext {
  store: EtcdStore
  cluster: string
  keys: ClusterKeys
  clock: () => Date
}

/** makeServiceContext builds a context for `conn.cluster` over `store`. */
export function makeServiceContext(store: EtcdStore, conn: Pick<ConnectionConfig, 'cluster'>, clock: () => Date = () => new Date()): ServiceContext {
  return {store, cluster: conn.cluster, keys: keysOf(conn.cluster), clock}
}
