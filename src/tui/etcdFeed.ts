import {type ServiceContext} from '../cluster/serviceContext.js'
import {errorMessage} from '../errors/errors.js'
import {type ResumableWatch, watchPrefix} from '../etcd/resumableWatch.js'
import {readTopKeys} from './topRead.js'
import {type TopAction} from './topState.js'

/** FeedHandle stops a running feed. */
export interface FeedHandle {
  stop(): Promise<void>
}

/**
 * startEtcdFeed feeds the TUI from etcd with one read and one watch of the cluster's
 * prefix — no polling: a `seeded` action with every key top shows (never the shard map:
 * see readTopKeys), then a `kv` action per change (shard records, load pages and secrets dropped here),
 * and `connection` actions when etcd goes away, comes back or events were lost (then it
 * re-reads and seeds again). While the first read fails it retries with backoff (1 s
 * doubling to 5 s) and reports "reconnecting". The cluster's secrets never enter the state.
 */
export function startEtcdFeed(ctx: ServiceContext, dispatch: (a: TopAction) => void, now: () => number = Date.now): FeedHandle {
  const secrets = `${ctx.keys.prefix}secrets/`
  const shards = ctx.keys.shardsPrefix
  // Per-replica load pages: top shows each node's totals, which its stats summary carries.
  const loads = ctx.keys.loadsPrefix
  let stopped = false
  let watch: ResumableWatch | undefined
  let timer: NodeJS.Timeout | undefined
  let wake: (() => void) | undefined

  const seed = async (): Promise<bigint> => {
    const {items, revision} = await readTopKeys(ctx)
    dispatch({type: 'seeded', at: now(), items})
    return revision
  }

  const run = async () => {
    let backoff = 1000
    while (!stopped) {
      try {
        const revision = await seed()
        if (stopped) return
        watch = watchPrefix(ctx.store, ctx.keys.prefix, {
          fromRevision: revision,
          onEvent: (ev) => {
            if (ev.key.startsWith(secrets) || ev.key.startsWith(shards) || ev.key.startsWith(loads)) return
            dispatch({type: 'kv', at: now(), item: {key: ev.key, value: ev.type === 'put' ? ev.value : null, revision: ev.modRevision}})
          },
          resync: seed,
          onStatus: (status) => dispatch({type: 'connection', at: now(), status}),
        })
        return
      } catch (err) {
        dispatch({type: 'connection', at: now(), status: 'disconnected', error: errorMessage(err)})
        await new Promise<void>((resolve) => {
          wake = resolve
          timer = setTimeout(resolve, backoff)
        })
        backoff = Math.min(5000, backoff * 2)
      }
    }
  }
  const running = run()

  return {
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      wake?.()
      await running
      await watch?.close()
    },
  }
}
