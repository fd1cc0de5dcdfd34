/**
 * connectFirst: a unary etcd call's deadline starts once its gRPC channel is connected.
 *
 * etcd3 (1.1) closes a member's channels after any recoverable failure (a deadline exceeded, a
 * reset connection) and makes new ones for the next call; its `dialTimeout` option is declared
 * but never used. gRPC starts a call's deadline when the call is made, so on a new channel the
 * deadline paid for the connection too: TCP, then an HTTP/2 handshake that is READY only once
 * etcd's SETTINGS came back (one round trip), then the call (another). With a link that answers
 * in more than half the deadline every first call on a new channel failed, the failure closed
 * the channel, and so on for ever: a router or node never served again although every later call
 * would have been answered in time (session 41, lapsedRouterMove: 3.7 s answers, 5 s deadline).
 *
 * So a unary call that finds its channel IDLE or CONNECTING first waits for it to connect, for
 * at most the call's own budget (the dial bound), and then gets its whole budget from the moment
 * the channel is READY. A channel that fails to connect (TRANSIENT_FAILURE: etcd refused, or down)
 * lets the call go at once with its original deadline, so it fails as fast as before; a channel
 * still not connected at the dial bound lets it go with its original deadline too, which has
 * passed: DEADLINE_EXCEEDED, as before. One attempt thus lasts at most twice the budget, and only
 * when the connection came up late. Streams (watches, lease keepalives) carry no deadline and are
 * not touched; calls on a READY channel are not touched.
 *
 * It plugs into grpc-js through two public client options (`callInvocationTransformer`, which sees
 * the call's channel, and a per-call interceptor that holds the call back); the few grpc-js shapes
 * it uses are declared here, as in rawRange.ts (grpc-js is etcd3's dependency, not ours).
 */

/** ChannelState is grpc-js's `connectivityState` enum (numbers, stable since grpc-js 1.0). */
export const ChannelState = {IDLE: 0, CONNECTING: 1, READY: 2, TRANSIENT_FAILURE: 3, SHUTDOWN: 4} as const

/** UNAVAILABLE is gRPC status 14: etcd3 counts it recoverable and sends the call again on a new channel. */
const UNAVAILABLE = 14

/** GrpcChannel is the part of a grpc-js Channel the wait uses. */
interface GrpcChannel {
  getConnectivityState(tryToConnect: boolean): number
  watchConnectivityState(currentState: number, deadline: number, callback: (error?: Error) => void): void
}

/** GrpcCall is grpc-js's InterceptingCallInterface, as far as a unary call uses it. */
interface GrpcCall {
  start(metadata: GrpcMetadata, listener: GrpcListener): void
  sendMessageWithContext(context: unknown, message: unknown): void
  sendMessage(message: unknown): void
  startRead(): void
  halfClose(): void
  cancelWithStatus(code: number, details: string): void
  getPeer(): string
  getAuthContext(): unknown
}

/** GrpcMetadata is grpc-js's Metadata, passed through; `clone` makes the empty one a synthetic status carries. */
interface GrpcMetadata {
  clone(): GrpcMetadata
  getMap(): Record<string, unknown>
  remove(key: string): void
}

interface GrpcListener {
  onReceiveStatus(status: {code: number; details: string; metadata: GrpcMetadata}): void
}

type CallOptions = {deadline?: number | Date; interceptors?: unknown[]; interceptor_providers?: unknown[]} & Record<string, unknown>

/** CallProperties is what grpc-js hands a `callInvocationTransformer` (the fields it reads or replaces). */
interface CallProperties {
  channel: GrpcChannel
  methodDefinition: {requestStream: boolean; responseStream: boolean}
  callOptions: CallOptions
}

/**
 * mustConnectFirst (pure) tells whether a unary call on a channel in `state` waits for the
 * channel to connect before its deadline starts: only IDLE and CONNECTING. READY needs no
 * wait; TRANSIENT_FAILURE and SHUTDOWN fail the call at once, as gRPC does without the wait.
 */
export function mustConnectFirst(state: number): boolean {
  return state === ChannelState.IDLE || state === ChannelState.CONNECTING
}

/**
 * deadlineAfterConnect (pure) is the deadline a held-back call starts with: `readyAt + budgetMs`
 * when the channel became READY at `readyAt` (never earlier than the original deadline), else
 * the original deadline (a channel that failed or did not connect within the dial bound: the
 * call fails as it would have without the wait).
 */
export function deadlineAfterConnect(originalDeadline: number, budgetMs: number, outcome: {state: number; at: number}): number {
  return outcome.state === ChannelState.READY ? Math.max(originalDeadline, outcome.at + budgetMs) : originalDeadline
}

/**
 * connectFirstTransformer returns the grpc-js `callInvocationTransformer` EtcdStore gives etcd3
 * (in `grpcOptions`, which etcd3 passes to every service client): a unary call with a deadline
 * whose channel is IDLE or CONNECTING is held back until the channel is READY (at most its
 * budget, the time left to its deadline), then made with its whole budget (see the module
 * comment). Any other call passes unchanged. It never throws; a channel shut down while a call
 * waited (etcd3 closes channels after another call's failure) fails the call UNAVAILABLE, which
 * etcd3 sends again on a new channel.
 */
export function connectFirstTransformer(now: () => number = Date.now): (props: CallProperties) => CallProperties {
  return (props) => {
    const {channel, methodDefinition, callOptions} = props
    if (methodDefinition.requestStream || methodDefinition.responseStream || callOptions.deadline === undefined) return props
    // Call interceptors replace the client's; etcd3 sets none, and one set by someone else stays in charge.
    if (callOptions.interceptors?.length || callOptions.interceptor_providers?.length) return props
    if (!mustConnectFirst(channel.getConnectivityState(false))) return props
    const deadline = Number(callOptions.deadline)
    const budgetMs = Math.max(0, deadline - now())
    const interceptor = (options: CallOptions, nextCall: (options: CallOptions) => GrpcCall): GrpcCall =>
      new HeldCall(channel, (connected) => nextCall({...options, deadline: deadlineAfterConnect(deadline, budgetMs, connected)}), now() + budgetMs, now)
    return {...props, callOptions: {...callOptions, interceptors: [interceptor]}}
  }
}

/**
 * HeldCall is a unary call held back until its channel connects: it queues what grpc-js sends it
 * (start, the request, half-close) and replays it on the real call, made once the wait is over.
 */
class HeldCall implements GrpcCall {
  #real: GrpcCall | undefined
  #queued: ((call: GrpcCall) => void)[] = []
  #cancelled: {code: number; details: string} | undefined
  #listener: GrpcListener | undefined
  #metadata: GrpcMetadata | undefined

  constructor(
    readonly channel: GrpcChannel,
    readonly makeCall: (connected: {state: number; at: number}) => GrpcCall,
    readonly dialDeadline: number,
    readonly now: () => number,
  ) {}

  start(metadata: GrpcMetadata, listener: GrpcListener): void {
    this.#metadata = metadata
    this.#listener = listener
    if (this.#cancelled) return this.#fail(this.#cancelled.code, this.#cancelled.details)
    waitForConnection(this.channel, this.dialDeadline, this.now, (connected) => this.#begin(metadata, listener, connected))
  }

  #begin(metadata: GrpcMetadata, listener: GrpcListener, connected: {state: number; at: number}): void {
    if (this.#cancelled) return
    if (connected.state === ChannelState.SHUTDOWN) return this.#fail(UNAVAILABLE, 'the etcd channel was closed while this call waited for it to connect')
    let call: GrpcCall
    try {
      call = this.makeCall(connected)
    } catch (err) {
      return this.#fail(UNAVAILABLE, `the etcd call could not be made once its channel connected: ${err instanceof Error ? err.message : String(err)}`)
    }
    this.#real = call
    call.start(metadata, listener)
    for (const op of this.#queued.splice(0)) op(call)
  }

  /** #fail ends a call that was never made, with a status as grpc-js would report it. */
  #fail(code: number, details: string): void {
    const listener = this.#listener
    if (!listener || !this.#metadata) return
    const metadata = this.#metadata.clone()
    for (const key of Object.keys(metadata.getMap())) metadata.remove(key)
    listener.onReceiveStatus({code, details, metadata})
  }

  #forward(op: (call: GrpcCall) => void): void {
    if (this.#real) op(this.#real)
    else this.#queued.push(op)
  }

  sendMessageWithContext(context: unknown, message: unknown): void {
    this.#forward((call) => call.sendMessageWithContext(context, message))
  }

  sendMessage(message: unknown): void {
    this.#forward((call) => call.sendMessage(message))
  }

  startRead(): void {
    this.#forward((call) => call.startRead())
  }

  halfClose(): void {
    this.#forward((call) => call.halfClose())
  }

  cancelWithStatus(code: number, details: string): void {
    if (this.#real) return this.#real.cancelWithStatus(code, details)
    if (this.#cancelled) return
    this.#cancelled = {code, details}
    this.#fail(code, details)
  }

  getPeer(): string {
    return this.#real?.getPeer() ?? 'unknown'
  }

  getAuthContext(): unknown {
    return this.#real?.getAuthContext() ?? null
  }
}

/**
 * waitForConnection calls `done` once with the channel's state as soon as it is no longer IDLE
 * or CONNECTING, or at `until` with whatever state it is in then. It asks an IDLE channel to
 * connect (a new channel does nothing until asked).
 */
function waitForConnection(channel: GrpcChannel, until: number, now: () => number, done: (outcome: {state: number; at: number}) => void): void {
  const settle = (): void => {
    if (channel.getConnectivityState(false) === ChannelState.IDLE) channel.getConnectivityState(true)
    const state = channel.getConnectivityState(false)
    if (!mustConnectFirst(state) || now() >= until) return done({state, at: now()})
    try {
      channel.watchConnectivityState(state, until, (err) => (err ? done({state: channel.getConnectivityState(false), at: now()}) : settle()))
    } catch {
      // grpc-js throws when the channel was shut down meanwhile.
      done({state: ChannelState.SHUTDOWN, at: now()})
    }
  }
  settle()
}
