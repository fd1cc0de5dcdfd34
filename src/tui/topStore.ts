import {type ClusterKeys} from '../etcd/keys.js'
import {type TopAction, topReducer, type TopState} from './topState.js'

/**
 * TopStore holds the TUI state outside React: feeds (etcd watch, an in-process executor,
 * the demo) dispatch actions into it from anywhere, and the screen subscribes through
 * {@link useTopState}. Listeners are notified at most once per `minIntervalMs` (100 ms:
 * at most 10 renders/s however fast events arrive); actions in between are reduced in
 * order and delivered as one state change.
 */
export class TopStore {
  private state: TopState
  private published: TopState
  private readonly listeners = new Set<() => void>()
  private dirty = false
  private timer: NodeJS.Timeout | undefined
  private lastNotify = 0
  private closed = false

  constructor(
    private readonly keys: ClusterKeys,
    initial: TopState,
    private readonly minIntervalMs = 100,
    private readonly now: () => number = Date.now,
  ) {
    this.state = initial
    this.published = initial
  }

  /** getState returns the current state (stable between notifications, as useSyncExternalStore needs). */
  getState = (): TopState => this.published

  /** subscribe registers a listener notified (rate-limited) after state changes; returns the unsubscribe. */
  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** dispatch reduces `action` into the state now and schedules one notification. */
  dispatch = (action: TopAction): void => {
    const next = topReducer(this.keys, this.state, action)
    if (next === this.state) return
    this.state = next
    this.dirty = true
    this.schedule()
  }

  /** current returns the latest reduced state, even before listeners were notified (for commands reacting to keys). */
  current(): TopState {
    return this.state
  }

  /** close stops pending notifications. */
  close(): void {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(): void {
    if (this.timer || this.closed) return
    const wait = Math.max(0, this.lastNotify + this.minIntervalMs - this.now())
    this.timer = setTimeout(() => this.notify(), wait)
  }

  private notify(): void {
    this.timer = undefined
    if (!this.dirty || this.closed) return
    this.dirty = false
    this.lastNotify = this.now()
    this.published = this.state
    for (const fn of [...this.listeners]) fn()
  }
}
