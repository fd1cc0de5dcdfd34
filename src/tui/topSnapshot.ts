import {type ServiceContext} from '../cluster/serviceContext.js'
import {getMeta} from '../cluster/clusterRepo.js'
import {readTopKeys} from './topRead.js'
import {initialTopState, topReducer} from './topState.js'
import {deriveTopView, type TopView} from './topView.js'

/** TopSnapshot is `top --json`: the dashboard's figures read once (no log, no UI state), with the moves' unacknowledged warnings of possible data loss (`trouble`). */
export type TopSnapshot = Pick<TopView, 'header' | 'nodes' | 'moves' | 'trouble'>

/**
 * readTopSnapshot reads what the dashboard shows once (see readTopKeys: never the shard
 * map) and derives its figures, for scripts and terminals without a TTY. Throws NOT_FOUND
 * for an unknown cluster, ETCD_UNREACHABLE when etcd does not answer.
 */
export async function readTopSnapshot(ctx: ServiceContext, target: number, now: number): Promise<TopSnapshot> {
  await getMeta(ctx)
  const {items} = await readTopKeys(ctx)
  const state = topReducer(ctx.keys, initialTopState(ctx.cluster, ctx.store.conn.endpoints.join(','), now), {type: 'seeded', at: now, items})
  const {header, nodes, moves, trouble} = deriveTopView(state, target)
  return {header, nodes, moves, trouble}
}
