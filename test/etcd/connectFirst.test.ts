import {describe, expect, it} from 'vitest'
import {ChannelState, connectFirstTransformer, deadlineAfterConnect, mustConnectFirst} from '../../src/etcd/connectFirst.js'

type Props = Parameters<ReturnType<typeof connectFirstTransformer>>[0]
type Interceptor = (options: Record<string, unknown>, nextCall: (options: Record<string, unknown>) => FakeCall) => FakeCall

/** fakeChannel is a grpc-js channel whose state the test sets; watchers fire on a change, as grpc-js's do. */
function fakeChannel(initial: number) {
  let state = initial
  let watchers: {current: number; cb: (err?: Error) => void}[] = []
  const kicks: number[] = []
  return {
    kicks,
    getConnectivityState(tryToConnect: boolean) {
      if (tryToConnect) kicks.push(state)
      return state
    },
    watchConnectivityState(current: number, _deadline: number, cb: (err?: Error) => void) {
      if (state === ChannelState.SHUTDOWN) throw new Error('Channel has been shut down')
      watchers.push({current, cb})
    },
    set(next: number) {
      state = next
      const due = watchers.filter((w) => w.current !== next)
      watchers = watchers.filter((w) => w.current === next)
      for (const w of due) w.cb()
    },
    expire() {
      const due = watchers
      watchers = []
      for (const w of due) w.cb(new Error('Deadline passed without connectivity state change'))
    },
  }
}

/** FakeCall records what reaches the real call. */
class FakeCall {
  log: string[] = []
  start(_metadata?: unknown, _listener?: unknown) {
    this.log.push('start')
  }
  sendMessageWithContext(_c: unknown, m: unknown) {
    this.log.push(`message ${String(m)}`)
  }
  sendMessage(m: unknown) {
    this.log.push(`message ${String(m)}`)
  }
  startRead() {
    this.log.push('read')
  }
  halfClose() {
    this.log.push('halfClose')
  }
  cancelWithStatus(code: number, details?: string) {
    this.log.push(`cancel ${code} ${details ?? ''}`)
  }
  getPeer() {
    return 'peer'
  }
  getAuthContext() {
    return null
  }
}

const metadata = {clone: () => metadata, getMap: () => ({}), remove: () => undefined}
const unary = {requestStream: false, responseStream: false}

/** held runs a unary call through the transformer at `t` with a deadline at `deadline` and returns what the test drives. */
function held(channel: ReturnType<typeof fakeChannel>, clock: {t: number}, deadline: number) {
  const transform = connectFirstTransformer(() => clock.t)
  const out = transform({channel, methodDefinition: unary, callOptions: {deadline}} as Props)
  const interceptors = out.callOptions.interceptors as Interceptor[] | undefined
  const made: {options: Record<string, unknown>; call: FakeCall}[] = []
  const statuses: {code: number; details: string}[] = []
  const call = interceptors?.[0]?.({deadline}, (options) => {
    const c = new FakeCall()
    made.push({options, call: c})
    return c
  })
  call?.start(metadata as never, {onReceiveStatus: (s: {code: number; details: string}) => statuses.push(s)} as never)
  call?.sendMessage('req')
  call?.halfClose()
  return {out, made, statuses, call}
}

describe('mustConnectFirst and deadlineAfterConnect', () => {
  it('Given each channel state, Then only IDLE and CONNECTING hold a call back', () => {
    expect(Object.values(ChannelState).filter(mustConnectFirst)).toEqual([ChannelState.IDLE, ChannelState.CONNECTING])
  })

  it('Given the channel became READY, Then the call gets its whole budget from then; else it keeps its original deadline', () => {
    expect(deadlineAfterConnect(7000, 2000, {state: ChannelState.READY, at: 6400})).toBe(8400)
    expect(deadlineAfterConnect(7000, 2000, {state: ChannelState.READY, at: 4000})).toBe(7000)
    expect(deadlineAfterConnect(7000, 2000, {state: ChannelState.TRANSIENT_FAILURE, at: 6400})).toBe(7000)
    expect(deadlineAfterConnect(7000, 2000, {state: ChannelState.CONNECTING, at: 7000})).toBe(7000)
  })
})

describe('connectFirstTransformer', () => {
  it('Given a READY channel, a stream, or a call without a deadline, Then the call passes unchanged', () => {
    const transform = connectFirstTransformer(() => 0)
    const ready = {channel: fakeChannel(ChannelState.READY), methodDefinition: unary, callOptions: {deadline: 2000}} as Props
    expect(transform(ready)).toBe(ready)
    const stream = {channel: fakeChannel(ChannelState.CONNECTING), methodDefinition: {requestStream: true, responseStream: true}, callOptions: {}} as Props
    expect(transform(stream)).toBe(stream)
    const noDeadline = {channel: fakeChannel(ChannelState.IDLE), methodDefinition: unary, callOptions: {}} as Props
    expect(transform(noDeadline)).toBe(noDeadline)
  })

  it('Given a new (IDLE) channel, When it connects 1.4 s later, Then it was asked to connect, the call is made only then with its whole 2 s budget, and the request and half-close follow the start', () => {
    const clock = {t: 5000}
    const channel = fakeChannel(ChannelState.IDLE)
    const {made, statuses} = held(channel, clock, 7000)
    expect(channel.kicks).toEqual([ChannelState.IDLE])
    expect(made).toEqual([])
    channel.set(ChannelState.CONNECTING)
    expect(made).toEqual([])
    clock.t = 6400
    channel.set(ChannelState.READY)
    expect(made.map((m) => m.options.deadline)).toEqual([8400])
    expect(made[0]!.call.log).toEqual(['start', 'message req', 'halfClose'])
    expect(statuses).toEqual([])
  })

  it('Given a connecting channel that fails (etcd refused), Then the call is made at once with its original deadline (it fails as fast as without the wait)', () => {
    const clock = {t: 5000}
    const channel = fakeChannel(ChannelState.CONNECTING)
    const {made} = held(channel, clock, 7000)
    clock.t = 5010
    channel.set(ChannelState.TRANSIENT_FAILURE)
    expect(made.map((m) => m.options.deadline)).toEqual([7000])
  })

  it('Given a channel still connecting at the dial bound, Then the call is made with its original (passed) deadline: DEADLINE_EXCEEDED as before', () => {
    const clock = {t: 5000}
    const channel = fakeChannel(ChannelState.CONNECTING)
    const {made} = held(channel, clock, 7000)
    clock.t = 7000
    channel.expire()
    expect(made.map((m) => m.options.deadline)).toEqual([7000])
  })

  it('Given a channel closed while the call waits (etcd3 resets a host after another call failed), Then the call fails UNAVAILABLE without being made, so etcd3 sends it again on a new channel', () => {
    const clock = {t: 5000}
    const channel = fakeChannel(ChannelState.CONNECTING)
    const {made, statuses} = held(channel, clock, 7000)
    channel.set(ChannelState.SHUTDOWN)
    expect(made).toEqual([])
    expect(statuses.map((s) => s.code)).toEqual([14])
  })

  it('Given a held call cancelled before its channel connects, Then it ends with the cancel status and is never made', () => {
    const clock = {t: 5000}
    const channel = fakeChannel(ChannelState.CONNECTING)
    const {made, statuses, call} = held(channel, clock, 7000)
    call!.cancelWithStatus(1, 'Cancelled on client')
    channel.set(ChannelState.READY)
    expect(made).toEqual([])
    expect(statuses).toEqual([expect.objectContaining({code: 1, details: 'Cancelled on client'})])
  })
})
