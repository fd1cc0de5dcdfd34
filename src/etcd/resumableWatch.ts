import type * as etcd from 'etcd3'
import {prefixEnd} from '../store/keyRange.js'
import {type Store, type Watch, type WatchOptions} from '../store/store.js'
import {boundedWait} from '../clock/boundedWait.js'

const RECONNECT_BASE_MS = 100
const RECONNECT_MAX_MS = 5000

export type {WatchEvent, WatchStatus} from '../store/store.js'

/** ResumableWatchOptions configures {@link watchPrefix} (the store's {@link WatchOptions}). */
export type ResumableWatchOptions = WatchOptions

/** WATCH_CANCEL_WAIT_MS bounds how long {@link Watch.close} waits for etcd to confirm the cancel. */
export const WATCH_CANCEL_WAIT_MS = 1000

/** ResumableWatch is a running watch; close() stops it and releases its stream. */
export type ResumableWatch = Watch

/** watchPrefix is `store.watch(prefix, opts)`: see {@link Store.watch}. */
export function watchPrefix(store: Pick<Store, 'watch'>, prefix: string, opts: WatchOptions): Watch {
  return store.watch(prefix, opts)
}

/**
 * watchEtcdPrefix is EtcdStore's watch: it watches every key under `prefix` and survives etcd restarts. When the stream
 * drops, the watch resumes from the revision after the last event it delivered: etcd3
 * would re-attach its watcher by itself, but from the revision after the last response
 * *header* it saw (a "created" reply carries etcd's current revision before the catch-up
 * events), which can skip events; so this detaches that watcher and creates a new one,
 * after a backoff. When etcd cancels the watcher (its resume revision was compacted, or at
 * creation `fromRevision` already was) this recreates it after a `resync` read. Events
 * are delivered in revision order, each (revision, key) at most once.
 *
 * etcd never splits one revision's events across watch responses (no fragmenting is
 * requested), so "after the last delivered revision" loses nothing.
 */
export function watchEtcdPrefix(client: Pick<etcd.Etcd3, 'watch'>, prefix: string, opts: WatchOptions): Watch {
  let last = opts.fromRevision
  // One transaction can change several keys under the prefix: they share one revision, so
  // "already seen" is (revision, key), not the revision alone.
  let seenAtLast = new Set<string>()
  let watcher: etcd.Watcher | undefined
  let closed = false
  let retryTimer: NodeJS.Timeout | undefined
  let reconnects = 0

  const deliver = (type: 'put' | 'delete', kv: etcd.IKeyValue) => {
    // etcd3 routes events to a watcher until etcd confirms its cancel, and close() stops
    // waiting for that after WATCH_CANCEL_WAIT_MS: nothing is delivered once close was called.
    if (closed) return
    const rev = BigInt(kv.mod_revision)
    const key = kv.key.toString()
    if (rev < last || (rev === last && seenAtLast.has(key))) return // a resumed stream may replay what we already saw
    if (rev > last) {
      last = rev
      seenAtLast = new Set()
    }
    seenAtLast.add(key)
    opts.onEvent({type, key, value: kv.value.toString(), modRevision: rev})
  }

  const start = (): void => {
    if (closed) return
    // watcher() (not create()) so every listener is attached before the stream can deliver:
    // etcd sends the "created" reply and the first events (or a cancel) back to back, and a
    // listener added after awaiting create() can miss them.
    const w = client
      .watch()
      .inRange({start: prefix, end: prefixEnd(prefix)})
      .startRevision((last + 1n).toString())
      .watcher()
    watcher = w
    w.on('put', (kv) => deliver('put', kv))
    w.on('delete', (kv) => deliver('delete', kv))
    w.on('connected', () => {
      reconnects = 0
      opts.onStatus?.('connected')
    })
    w.on('disconnected', () => {
      opts.onStatus?.('disconnected')
      if (watcher !== w || closed) return
      // Detach etcd3's watcher (it would resume from its last header revision + 1, see the
      // function doc) and re-create one from our own last delivered revision. While the
      // stream is down, cancel() only removes the watcher from etcd3's list.
      watcher = undefined
      void w.cancel().catch(() => {})
      retryTimer = setTimeout(start, Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** reconnects++))
      retryTimer.unref?.()
    })
    w.on('error', () => {
      // etcd canceled this watcher; etcd3 has already detached it (cancel() now would send a
      // second cancel whose reply etcd3 cannot route). etcd 3.4 gives no cancel reason for a
      // compacted start revision and etcd3 drops compact_revision, so any cancel means events
      // may be lost: resync, then watch on from the revision of that read.
      if (watcher === w) watcher = undefined
      if (closed) return
      void recover()
    })
  }

  const recover = async (): Promise<void> => {
    if (closed) return
    opts.onStatus?.('resyncing')
    try {
      const rev = await opts.resync()
      if (rev !== last) seenAtLast = new Set()
      last = rev
    } catch {
      schedule(() => recover())
      return
    }
    start()
  }

  const schedule = (fn: () => Promise<void>) => {
    if (closed) return
    retryTimer = setTimeout(() => void fn(), 1000)
    retryTimer.unref?.()
  }

  start()
  return {
    async close() {
      closed = true
      if (retryTimer) clearTimeout(retryTimer)
      // etcd3's cancel waits for etcd's answer (or for the stream to break and come back): a
      // frozen etcd held a graceful stop for as long as gRPC took to drop the connection. A
      // cancel still unanswered ends with the client's close.
      if (watcher) await boundedWait(watcher.cancel().catch(() => {}), WATCH_CANCEL_WAIT_MS)
    },
    lastRevision: () => last,
  }
}
