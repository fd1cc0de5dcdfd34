import {type ServiceContext} from '../cluster/serviceContext.js'
import {type NodeStats} from '../model/stats.js'
import {splitNodeStats} from './statsPages.js'

/**
 * putNodeStats publishes a node's stats (see splitNodeStats): every load page first, then the
 * summary naming how many there are, so a reader that sees this summary sees pages at least
 * this new; then it deletes the pages numbered from the new count up to `stalePagesBelow`
 * (the previous publish's count under the same lease; readers ignore them anyway). Every key
 * goes on `lease` (none: unleased, for tests and tools). Returns how many pages it wrote.
 */
export async function putNodeStats(ctx: ServiceContext, stats: NodeStats, lease?: string, stalePagesBelow = 0): Promise<number> {
  const {summary, pages} = splitNodeStats(stats)
  await Promise.all(pages.map((page, i) => ctx.store.put(ctx.keys.loadPage(stats.node, i), page, lease)))
  await ctx.store.put(ctx.keys.stats(stats.node), JSON.stringify(summary), lease)
  for (let page = pages.length; page < stalePagesBelow; page++) await ctx.store.delete(ctx.keys.loadPage(stats.node, page))
  return pages.length
}
