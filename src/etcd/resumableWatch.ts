import * as etcd from 'etcd3'
import {type EtcdStore, prefixEnd} from './etcdStore.js'

/** WatchEvent is one change under a watched prefix. */
export interface WatchEvent {
  type: 'put' | 'delete'
  key: string
  value: string
  modRevision: bigint
}

/** WatchStatus is what a watch reports about its connection, for UIs ("reconnecting"). */
export type WatchStatus = 'connected' | 'disconnected' | 'resyncing'

/** ResumableWatchOptions configures {@link watchPrefix}. */
export interface ResumableWatchOptions {
  /** fromRevision: deliver events after this revision (usually the revision of the list that seeded the caller's state). */
  fromRevision: bigint
  onEvent: (ev: WatchEvent) => void
  /**
   * resync is called when events were lost for good (the resume revision was compacted):
   * the caller re-reads its state and returns the revision of that read; the watch goes on
   * from there. Level-based consumers stay correct: a missed event delays, never corrupts.
   */
  resync: () => Promise<bigint>
  onStatus?: (status: WatchStatus) => void
}

/** ResumableWatch is a running watch; close() stops it and releases its stream. */
export interface ResumableWatch {
  close(): Promise<void>
  /** lastRevision is the revision of the last event delivered (or the start revision). */
  lastRevision(): bigint
}

/**
 * watchPrefix watches every key under `prefix` and survives etcd restarts: etcd3 re-attaches
 * a dropped stream from the last seen revision by itself; when that revision has been
 * compacted the watcher errors and is dropped, so this recreates it after a `resync` read.
 * Events are delivered in revision order, each at most once.
 */
export function watchPrefix(store: EtcdStore, prefix: string, opts: ResumableWatchOptions): ResumableWatch {
  let last = opts.fromRevision
  let watcher: etcd.Watcher | undefined
  let closed = false
  let retryTimer: NodeJS.Timeout | undefined

  const deliver = (type: 'put' | 'delete', kv: etcd.IKeyValue) => {
    const rev = BigInt(kv.mod_revision)
    if (rev <= last) return // a resumed stream may replay what we already saw
    last = rev
    opts.onEvent({type, key: kv.key.toString(), value: kv.value.toString(), modRevision: rev})
  }

  const start = async (): Promise<void> => {
    if (closed) return
    try {
      const w = await store.client
        .watch()
        .inRange({start: prefix, end: prefixEnd(prefix)})
        .startRevision((last + 1n).toString())
        .create()
      if (closed) {
        await w.cancel()
        return
      }
      watcher = w
      opts.onStatus?.('connected')
      w.on('put', (kv) => deliver('put', kv))
      w.on('delete', (kv) => deliver('delete', kv))
      w.on('connected', () => opts.onStatus?.('connected'))
      w.on('disconnected', () => opts.onStatus?.('disconnected'))
      w.on('error', (err) => {
        void w.cancel().catch(() => {})
        watcher = undefined
        if (closed) return
        const compacted = /compact/i.test(String(err?.message ?? err))
        void recover(compacted)
      })
    } catch {
      opts.onStatus?.('disconnected')
      schedule(() => start())
    }
  }

  const recover = async (compacted: boolean): Promise<void> => {
    if (closed) return
    if (compacted) {
      opts.onStatus?.('resyncing')
      try {
        last = await opts.resync()
      } catch {
        schedule(() => recover(true))
        return
      }
    }
    await start()
  }

  const schedule = (fn: () => Promise<void>) => {
    if (closed) return
    retryTimer = setTimeout(() => void fn(), 1000)
    retryTimer.unref?.()
  }

  void start()
  return {
    async close() {
      closed = true
      if (retryTimer) clearTimeout(retryTimer)
      await watcher?.cancel().catch(() => {})
    },
    lastRevision: () => last,
  }
}
