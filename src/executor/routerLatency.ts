import {type ServiceContext} from '../cluster/serviceContext.js'
import {RouterRecordSchema} from '../router/routerRegistration.js'

/** worstRouterP99 is the highest client p99 (ms) any live router reports in its registration; null when none reports one. */
export async function worstRouterP99(ctx: ServiceContext): Promise<number | null> {
  const {items} = await ctx.store.list(ctx.keys.routersPrefix).catch(() => ({items: []}))
  let worst: number | null = null
  for (const kv of items) {
    try {
      const r = RouterRecordSchema.safeParse(JSON.parse(kv.value))
      if (r.success && r.data.p99Ms !== null) worst = Math.max(worst ?? 0, r.data.p99Ms)
    } catch {
      // a malformed router entry says nothing about latency
    }
  }
  return worst
}
