import {UserError} from '../errors/errors.js'

/** StoreOp names the store primitives a fault can target: reads of one key, page reads, transactions (every write), lease grants and revokes. */
export type StoreOp = 'get' | 'list' | 'txn' | 'lease'

/** KeyPattern selects keys: a string matches keys it prefixes (and listings of prefixes that overlap it), a RegExp matches what it tests. */
export type KeyPattern = string | RegExp

/** FaultTarget selects the operations a fault applies to. */
export interface FaultTarget {
  op: StoreOp
  /** key: only operations touching a matching key (a txn matches when any key it compares or writes does); omitted: every one. */
  key?: KeyPattern
  /** times: how many matching operations the fault hits before it is spent (default 1; Infinity for "until cleared"). */
  times?: number
}

/** FailFault makes matching operations throw. */
export interface FailFault extends FaultTarget {
  /** error to throw (default: a UserError(ETCD_UNREACHABLE) naming the injected fault). */
  error?: Error
  /**
   * when: 'before' (default) throws and changes nothing; 'after' applies a txn and then
   * throws, like a commit whose answer was lost (the caller cannot tell it landed).
   */
  when?: 'before' | 'after'
}

/** Gate is a held operation: it waits at `reached` until the test calls release(). */
export interface Gate {
  /** reached resolves when the first matching operation is waiting at the gate. */
  reached: Promise<void>
  /** release lets every operation waiting at (and every later one reaching) this gate go on. */
  release(): void
}

interface Rule {
  target: FaultTarget
  left: number
  action: {kind: 'fail'; error?: Error; when: 'before' | 'after'} | {kind: 'delay'; ms: number; when: 'before' | 'after'} | {kind: 'hold'; gate: Gate; arrive: () => void; released: Promise<void>; when: 'before' | 'after'}
}

/** WaitFault: a delay or hold; `when` 'before' (default) waits before the operation runs, 'after' runs it and delays its answer (a read then returns stale data). */
export interface WaitFault extends FaultTarget {
  when?: 'before' | 'after'
}

/** FaultHit is what a store must do for one operation: wait, throw, run, wait, throw, in that order. */
export interface FaultHit {
  waitBefore?: () => Promise<void>
  waitAfter?: () => Promise<void>
  failBefore?: Error
  failAfter?: Error
}

/**
 * MemoryFaults is the fault table of a {@link MemoryStore}: rules that fail, delay or hold
 * matching operations a bounded number of times. Rules are checked in the order added;
 * every matching rule with hits left is consumed once per operation.
 */
export class MemoryFaults {
  private rules: Rule[] = []

  constructor(private readonly sleep: (ms: number) => Promise<void>) {}

  /** fail makes the next `times` (default 1) matching operations throw (see {@link FailFault}). */
  fail(fault: FailFault): void {
    this.rules.push({target: fault, left: fault.times ?? 1, action: {kind: 'fail', error: fault.error, when: fault.when ?? 'before'}})
  }

  /** delay makes the next `times` matching operations wait `ms` (a real timer: the test asked for one); see {@link WaitFault} for when. */
  delay(fault: WaitFault & {ms: number}): void {
    this.rules.push({target: fault, left: fault.times ?? 1, action: {kind: 'delay', ms: fault.ms, when: fault.when ?? 'before'}})
  }

  /**
   * hold makes the next `times` matching operations wait until the returned gate is released
   * (deterministic, no timer); see {@link WaitFault} for when.
   */
  hold(target: WaitFault): Gate {
    let arrive!: () => void
    let release!: () => void
    const reached = new Promise<void>((r) => (arrive = r))
    const released = new Promise<void>((r) => (release = r))
    const gate: Gate = {reached, release}
    this.rules.push({target, left: target.times ?? 1, action: {kind: 'hold', gate, arrive, released, when: target.when ?? 'before'}})
    return gate
  }

  /** clear removes every rule (held operations stay held until their gate is released). */
  clear(): void {
    this.rules = []
  }

  /** hit consumes the rules matching one operation on `keys` and says what the store must do. */
  hit(op: StoreOp, keys: readonly string[], listing = false): FaultHit {
    const out: FaultHit = {}
    const before: (() => Promise<void>)[] = []
    const after: (() => Promise<void>)[] = []
    for (const rule of this.rules) {
      if (rule.left <= 0 || rule.target.op !== op || !matches(rule.target.key, keys, listing)) continue
      rule.left--
      const a = rule.action
      if (a.kind === 'delay') (a.when === 'after' ? after : before).push(() => this.sleep(a.ms))
      else if (a.kind === 'hold') {
        ;(a.when === 'after' ? after : before).push(() => {
          a.arrive()
          return a.released
        })
      } else {
        const err = a.error ?? new UserError('ETCD_UNREACHABLE', `memory store: injected ${op} failure${keys.length ? ` on ${keys.join(', ')}` : ''}`, 'a test fault; it clears after its count')
        if (a.when === 'after') out.failAfter ??= err
        else out.failBefore ??= err
      }
    }
    this.rules = this.rules.filter((r) => r.left > 0)
    if (before.length) out.waitBefore = () => Promise.all(before.map((w) => w())).then(() => undefined)
    if (after.length) out.waitAfter = () => Promise.all(after.map((w) => w())).then(() => undefined)
    return out
  }
}

function matches(pattern: KeyPattern | undefined, keys: readonly string[], listing: boolean): boolean {
  if (pattern === undefined) return true
  return keys.some((k) => {
    if (typeof pattern !== 'string') return pattern.test(k)
    return k.startsWith(pattern) || (listing && pattern.startsWith(k))
  })
}
