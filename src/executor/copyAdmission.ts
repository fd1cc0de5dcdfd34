import {type MovePhase} from '../model/move.js'
import {formatBytes, MIN_RATE_BYTES_PER_SEC} from '../model/units.js'

/**
 * Copy admission: how many copies may run at once under the throttles, so that none is given
 * less than {@link MIN_RATE_BYTES_PER_SEC}.
 *
 * The cluster throttle is split evenly over the copies running; a node's throttle is a token
 * bucket its copies share. A copy sends frames of at least 16 KiB, and a destination hearing
 * nothing for 30 s takes its source for dead: 16KiB/s split over 30 copies gave each about
 * 550 B/s, a frame every 30 s, and the moves aborted as "source unreachable". So a copy runs
 * only while every rate it shares still gives each of its sharers the floor: at most
 * rate / floor copies under the cluster rate, and as many sending out of (or receiving into)
 * a node under that node's rate. The others wait (queued, or held between frames once
 * running) until a copy ends or the rate is raised: the operator's rate is kept, never
 * exceeded to keep more copies going. Pure: no I/O, no clock.
 */

/** copySlots is how many copies a rate of `rate` bytes/s can carry at the floor each (Infinity: unthrottled; at least 1, so a copy always runs). */
export function copySlots(rate: number | null): number {
  if (rate === null) return Infinity
  return Math.max(1, Math.floor(rate / MIN_RATE_BYTES_PER_SEC))
}

/** PRE_COPY_PHASES are the phases of a move that still has its copy ahead of it or under way (it needs a copy slot). */
const PRE_COPY_PHASES: ReadonlySet<MovePhase> = new Set(['pending', 'checked', 'joining', 'copying'])

/** willCopy tells whether a move in `phase` still has to copy (a resumed move past its copy does not). */
export function willCopy(phase: MovePhase): boolean {
  return PRE_COPY_PHASES.has(phase)
}

/** CopyWant is one copy asking to run: its move, the nodes it reads from and the node it writes to. */
export interface CopyWant {
  id: string
  sources: readonly string[]
  destination: string
}

/** AdmissionRates are the throttles in force (bytes/s, null: unlimited): the cluster rate and each node's send and receive rate. */
export interface AdmissionRates {
  global: number | null
  send(node: string): number | null
  receive(node: string): number | null
}

/** HoldCause says which rate holds a copy back: the cluster's, or one node's send or receive rate. */
export type HoldCause = {limit: 'cluster'; rate: number; slots: number} | {limit: 'send' | 'receive'; node: string; rate: number; slots: number}

/** Admission is the decision for every copy asking: the admitted ones in order, and why each other waits. */
export interface Admission {
  admitted: string[]
  held: Map<string, HoldCause>
}

/**
 * admitCopies decides which copies run now: `running` first (in the order they were admitted,
 * so a rate cut holds the latest admitted first), then `waiting` in order, each while the cluster
 * rate and its nodes' rates still have a slot ({@link copySlots}) for it. The first copy always
 * fits (every rate has at least one slot), so admission never deadlocks.
 */
export function admitCopies(running: readonly CopyWant[], waiting: readonly CopyWant[], rates: AdmissionRates): Admission {
  const globalSlots = copySlots(rates.global)
  const sending = new Map<string, number>()
  const receiving = new Map<string, number>()
  const admitted: string[] = []
  const held = new Map<string, HoldCause>()
  for (const c of [...running, ...waiting]) {
    const cause = blocked(c)
    if (cause) {
      held.set(c.id, cause)
      continue
    }
    admitted.push(c.id)
    for (const s of new Set(c.sources)) sending.set(s, (sending.get(s) ?? 0) + 1)
    receiving.set(c.destination, (receiving.get(c.destination) ?? 0) + 1)
  }
  return {admitted, held}

  function blocked(c: CopyWant): HoldCause | undefined {
    if (admitted.length >= globalSlots) return {limit: 'cluster', rate: rates.global!, slots: globalSlots}
    for (const s of new Set(c.sources)) {
      const rate = rates.send(s)
      if (rate !== null && (sending.get(s) ?? 0) >= copySlots(rate)) return {limit: 'send', node: s, rate, slots: copySlots(rate)}
    }
    const rate = rates.receive(c.destination)
    if (rate !== null && (receiving.get(c.destination) ?? 0) >= copySlots(rate)) return {limit: 'receive', node: c.destination, rate, slots: copySlots(rate)}
    return undefined
  }
}

/** THROTTLE_HOLD_PREFIX starts the reason of a move held by the throttle (`moves list`'s NOTE, `moves show`, the TUI). */
export const THROTTLE_HOLD_PREFIX = 'held by the throttle'

/** isThrottleHold tells whether a move's reason is a throttle hold (not an error being retried). */
export function isThrottleHold(reason: string | null | undefined): boolean {
  return reason?.startsWith(THROTTLE_HOLD_PREFIX) === true
}

/** holdReason is the reason a held copy's move shows: which rate holds it, how many copies it carries, and what lets it go on. */
export function holdReason(cause: HoldCause): string {
  const floor = `${formatBytes(MIN_RATE_BYTES_PER_SEC)}/s`
  const copies = `${cause.slots} cop${cause.slots === 1 ? 'y' : 'ies'} at ${floor} or more each`
  const what = cause.limit === 'cluster' ? `the cluster rate ${formatBytes(cause.rate)}/s carries ${copies}` : `node ${cause.node}'s ${cause.limit} rate ${formatBytes(cause.rate)}/s (--node-throttle) carries ${copies}`
  const then = cause.limit === 'cluster' ? 'a running copy ends or `throttle set` raises the rate' : 'a copy through that node ends'
  return `${THROTTLE_HOLD_PREFIX}: ${what}; it copies when ${then}`
}

/**
 * HOLD_NOTE_MS: a held copy's reason is rewritten for a new rate at most this often. Under
 * `--throttle auto` the rate changes about every second, and each of many held moves would
 * otherwise write its record and log a line every time.
 */
export const HOLD_NOTE_MS = 10_000

/** HoldNote is the hold a copy's reason last said, and when it was written. */
export interface HoldNote {
  cause: HoldCause
  at: number
}

/**
 * holdNoteDue says what a held copy does about its reason now: `announce` (write it and log
 * it: the copy was not held, or another rate holds it now), `refresh` (write it, quietly: the
 * same rate holds it at another figure, and the last write is {@link HOLD_NOTE_MS} old) or
 * `keep`.
 */
export function holdNoteDue(last: HoldNote | undefined, cause: HoldCause, now: number): 'announce' | 'refresh' | 'keep' {
  if (!last || last.cause.limit !== cause.limit || nodeOf(last.cause) !== nodeOf(cause)) return 'announce'
  if ((last.cause.rate !== cause.rate || last.cause.slots !== cause.slots) && now - last.at >= HOLD_NOTE_MS) return 'refresh'
  return 'keep'
}

function nodeOf(c: HoldCause): string | undefined {
  return c.limit === 'cluster' ? undefined : c.node
}

/**
 * CopyAdmission is one executor run's admission state: the moves that still have to copy
 * (`bind`, in the order the run started them, which is the order held copies go in), the copies
 * asking now (`want`) and those admitted. Every question decides again under the rates given
 * then, so a `throttle set` acts at the next question. No I/O: the executor passes the rates in.
 */
export class CopyAdmission {
  /** order is each bound move's place in the queue (the run's start order). */
  private readonly order = new Map<string, number>()
  private next = 0
  private readonly wants = new Map<string, CopyWant>()
  /** admitted: the copies admitted, in the order they were. */
  private admittedIds: string[] = []
  private heldCauses = new Map<string, HoldCause>()

  constructor(private readonly rates: () => AdmissionRates) {}

  /** bind counts a started move that still has to copy: it takes one of the slots new moves start into ({@link freeSlots}). */
  bind(id: string): void {
    if (!this.order.has(id)) this.order.set(id, this.next++)
  }

  /** unbind: the move's copy is done (or its run ended): its slot goes to a waiting copy or a new move. */
  unbind(id: string): void {
    this.order.delete(id)
    this.leave(id)
  }

  /** freeSlots is how many more moves that have to copy may start now under the cluster rate (Infinity: unthrottled). */
  freeSlots(): number {
    return Math.max(0, copySlots(this.rates().global) - this.order.size)
  }

  /** want asks for `copy` to run now: the cause that holds it, or undefined when it is admitted. */
  want(copy: CopyWant): HoldCause | undefined {
    if (!this.order.has(copy.id)) this.bind(copy.id)
    this.wants.set(copy.id, copy)
    this.decide()
    return this.heldCauses.get(copy.id)
  }

  /** leave: the copy stops asking (it ended, or its copy effect returned); its slot is free. */
  leave(id: string): void {
    this.wants.delete(id)
    this.admittedIds = this.admittedIds.filter((a) => a !== id)
    this.heldCauses.delete(id)
  }

  /** copying is how many copies are admitted now: what the cluster rate is split over (at least 1). */
  copying(): number {
    this.decide()
    return Math.max(1, this.admittedIds.length)
  }

  /** sharing is how many admitted copies send out of (`send`) or receive into (`receive`) `node` now (at least 1). */
  sharing(node: string, side: 'send' | 'receive'): number {
    this.decide()
    const n = this.admittedIds.filter((id) => {
      const c = this.wants.get(id)
      return c !== undefined && (side === 'send' ? c.sources.includes(node) : c.destination === node)
    }).length
    return Math.max(1, n)
  }

  private decide(): void {
    const running = this.admittedIds.flatMap((id) => this.wants.get(id) ?? [])
    const admittedSet = new Set(this.admittedIds)
    const waiting = [...this.wants.values()].filter((c) => !admittedSet.has(c.id)).sort((a, b) => (this.order.get(a.id) ?? Infinity) - (this.order.get(b.id) ?? Infinity))
    const d = admitCopies(running, waiting, this.rates())
    this.admittedIds = d.admitted
    this.heldCauses = d.held
  }
}
