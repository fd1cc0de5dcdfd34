import {type ServiceContext} from '../cluster/serviceContext.js'
import {type FeedHandle, startEtcdFeed} from './etcdFeed.js'
import {initialTopState} from './topState.js'
import {TopStore} from './topStore.js'

/** LiveFeed is a dashboard state fed from etcd: the store and the feed that fills it. */
export interface LiveFeed {
  store: TopStore
  feed: FeedHandle
}

/**
 * startLiveFeed creates the dashboard's store and starts feeding it from etcd (its first
 * read goes out now). It loads no UI code (no ink, no react), so `top` calls it before
 * loading those: the read and the module loading overlap. The caller stops `feed`.
 */
export function startLiveFeed(ctx: ServiceContext): LiveFeed {
  const store = new TopStore(ctx.keys, initialTopState(ctx.cluster, ctx.store.conn.endpoints.join(','), Date.now()))
  return {store, feed: startEtcdFeed(ctx, store.dispatch)}
}
