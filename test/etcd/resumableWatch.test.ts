import {EventEmitter} from 'node:events'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {WATCH_CANCEL_WAIT_MS, type WatchEvent, watchEtcdPrefix} from '../../src/etcd/resumableWatch.js'

/** FakeWatcher stands in for an etcd3 Watcher: the test emits what etcd3 would. */
class FakeWatcher extends EventEmitter {
  cancelled = false
  constructor(readonly startRevision: string) {
    super()
  }

  cancel(): Promise<void> {
    this.cancelled = true
    return Promise.resolve()
  }

  put(key: string, rev: number): void {
    this.emit('put', {key: Buffer.from(key), value: Buffer.from('v'), mod_revision: String(rev)})
  }
}

/** fakeClient records every watcher watchEtcdPrefix creates, with the revision it asked to start from. */
function fakeClient() {
  const watchers: FakeWatcher[] = []
  const builder = {
    start: '',
    inRange() {
      return builder
    },
    startRevision(rev: string) {
      builder.start = rev
      return builder
    },
    watcher() {
      const w = new FakeWatcher(builder.start)
      watchers.push(w)
      return w
    },
  }
  return {watchers, client: {watch: () => builder} as never}
}

afterEach(() => {
  vi.useRealTimers()
})

describe('watchEtcdPrefix', () => {
  it('Given etcd that never confirms the cancel (frozen), When closed, Then close() resolves within WATCH_CANCEL_WAIT_MS', async () => {
    vi.useFakeTimers()
    const {watchers, client} = fakeClient()
    const events: WatchEvent[] = []
    const watch = watchEtcdPrefix(client, '/p/', {fromRevision: 10n, onEvent: (e) => events.push(e), resync: () => Promise.resolve(0n)})
    watchers[0]!.cancel = () => new Promise<void>(() => {})
    let closed = false
    void watch.close().then(() => (closed = true))
    await vi.advanceTimersByTimeAsync(WATCH_CANCEL_WAIT_MS)
    expect(closed).toBe(true)
  })

  it('Given a close whose cancel etcd has not confirmed when close() gave up waiting, When etcd then delivers an event on that watcher, Then onEvent is not called (no callback after close)', async () => {
    vi.useFakeTimers()
    const {watchers, client} = fakeClient()
    const events: WatchEvent[] = []
    const watch = watchEtcdPrefix(client, '/p/', {fromRevision: 10n, onEvent: (e) => events.push(e), resync: () => Promise.resolve(0n)})
    watchers[0]!.cancel = () => new Promise<void>(() => {})
    const closed = watch.close()
    await vi.advanceTimersByTimeAsync(WATCH_CANCEL_WAIT_MS)
    await closed
    // etcd answers again: etcd3 routes events to the watcher until its cancel is confirmed.
    watchers[0]!.put('/p/a', 11)
    expect(events).toEqual([])
  })

  it('Given a dropped stream, When it resumes, Then it starts after the last delivered event, not after the last header etcd3 saw', async () => {
    vi.useFakeTimers()
    const {watchers, client} = fakeClient()
    const events: WatchEvent[] = []
    const watch = watchEtcdPrefix(client, '/p/', {fromRevision: 10n, onEvent: (e) => events.push(e), resync: () => Promise.resolve(0n)})
    expect(watchers).toHaveLength(1)
    expect(watchers[0]!.startRevision).toBe('11')

    // etcd answered "created" with header revision 20 (etcd3 would now resume from 21), then one catch-up event.
    watchers[0]!.emit('connected')
    watchers[0]!.put('/p/a', 12)
    // The stream drops before events 13..20 arrive.
    watchers[0]!.emit('disconnected', new Error('stream ended'))
    expect(watchers[0]!.cancelled).toBe(true)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(watchers).toHaveLength(2)
    expect(watchers[1]!.startRevision).toBe('13')

    // A replay of what was delivered is dropped; the rest arrives once.
    watchers[1]!.put('/p/a', 12)
    watchers[1]!.put('/p/b', 13)
    expect(events.map((e) => `${e.key}@${e.modRevision}`)).toEqual(['/p/a@12', '/p/b@13'])
    expect(watch.lastRevision()).toBe(13n)
    await watch.close()
  })

  it('Given a watch that keeps failing to connect, When closed, Then it creates no more watchers', async () => {
    vi.useFakeTimers()
    const {watchers, client} = fakeClient()
    const watch = watchEtcdPrefix(client, '/p/', {fromRevision: 1n, onEvent: () => {}, resync: () => Promise.resolve(0n)})
    for (let i = 0; i < 5; i++) {
      watchers.at(-1)!.emit('disconnected', new Error('refused'))
      await vi.advanceTimersByTimeAsync(10_000)
    }
    expect(watchers).toHaveLength(6)
    expect(new Set(watchers.map((w) => w.startRevision))).toEqual(new Set(['2']))
    watchers.at(-1)!.emit('disconnected', new Error('refused'))
    await watch.close()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(watchers).toHaveLength(6)
  })
})
