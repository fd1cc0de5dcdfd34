import {describe, expect, it} from 'vitest'
import {admitCopies, type AdmissionRates, CopyAdmission, copySlots, type CopyWant, HOLD_NOTE_MS, holdNoteDue, holdReason, isThrottleHold, willCopy} from '../../src/executor/copyAdmission.js'
import {MIN_RATE_BYTES_PER_SEC} from '../../src/model/units.js'

const KiB = 1024
const FLOOR = MIN_RATE_BYTES_PER_SEC

/** copiesInto: `n` copies, each from its own source into its own destination (only the cluster rate binds). */
function copies(n: number, prefix = 'm'): CopyWant[] {
  return Array.from({length: n}, (_, i) => ({id: `${prefix}${i}`, sources: [`s${i}`], destination: `d${i}`}))
}

function cluster(global: number | null, node: number | null = null): AdmissionRates {
  return {global, send: () => node, receive: () => node}
}

describe('copySlots', () => {
  it('gives a rate as many copies as it carries at 16KiB/s each, at least one, unbounded when unthrottled', () => {
    expect(copySlots(16 * KiB)).toBe(1)
    expect(copySlots(32 * KiB - 1)).toBe(1)
    expect(copySlots(32 * KiB)).toBe(2)
    // --throttle auto's floor.
    expect(copySlots(256 * KiB)).toBe(16)
    expect(copySlots(1)).toBe(1)
    expect(copySlots(null)).toBe(Infinity)
  })
})

describe('willCopy', () => {
  it('counts the moves with their copy ahead or under way, not those resumed past it', () => {
    expect(['pending', 'checked', 'joining', 'copying'].every((p) => willCopy(p as never))).toBe(true)
    expect(['promoting', 'verifying', 'cutover', 'draining', 'aborting', 'done'].some((p) => willCopy(p as never))).toBe(false)
  })
})

describe('admitCopies', () => {
  // The session 32 report: 16KiB/s over 30 running moves gave each ~550 B/s, a frame every 30 s.
  it('given 16KiB/s and 30 copies, then one copies at the whole rate and 29 wait (not 30 at 550 B/s)', () => {
    const d = admitCopies([], copies(30), cluster(16 * KiB))
    expect(d.admitted).toEqual(['m0'])
    expect(d.held.size).toBe(29)
    expect(d.held.get('m1')).toEqual({limit: 'cluster', rate: 16 * KiB, slots: 1})
  })

  it('never gives an admitted copy less than the floor, nor admits none, for any rate and number of copies', () => {
    for (const rate of [FLOOR, FLOOR + 1, 20 * KiB, 32 * KiB, 100 * KiB, 256 * KiB, 1024 * KiB, 50 * 1024 * KiB]) {
      for (const n of [1, 2, 3, 7, 16, 30, 64, 256]) {
        const d = admitCopies([], copies(n), cluster(rate))
        expect(d.admitted.length).toBeGreaterThanOrEqual(1)
        expect(rate / d.admitted.length).toBeGreaterThanOrEqual(FLOOR)
        // As many as the rate carries: the operator's rate is used, not left idle.
        expect(d.admitted.length).toBe(Math.min(n, Math.floor(rate / FLOOR)))
        expect(d.admitted.length + d.held.size).toBe(n)
      }
    }
  })

  it('keeps the running copies first, in the order they were admitted: a cut holds the latest admitted', () => {
    const [a, b, c, w] = copies(4)
    const d = admitCopies([a!, b!, c!], [w!], cluster(32 * KiB))
    expect(d.admitted).toEqual(['m0', 'm1'])
    expect([...d.held.keys()]).toEqual(['m2', 'm3'])
  })

  it('admits everything unthrottled', () => {
    expect(admitCopies([], copies(100), cluster(null)).admitted).toHaveLength(100)
  })

  it("holds copies a node's send or receive rate cannot carry at the floor, while others go on", () => {
    // --node-throttle 32KiB/s: two copies out of n1 at once, two into n9.
    const want: CopyWant[] = [
      {id: 'a', sources: ['n1'], destination: 'n9'},
      {id: 'b', sources: ['n1'], destination: 'n8'},
      {id: 'c', sources: ['n1'], destination: 'n7'},
      {id: 'd', sources: ['n2'], destination: 'n9'},
      {id: 'e', sources: ['n3'], destination: 'n6'},
    ]
    const d = admitCopies([], want, cluster(null, 32 * KiB))
    expect(d.admitted).toEqual(['a', 'b', 'd', 'e'])
    expect(d.held.get('c')).toEqual({limit: 'send', node: 'n1', rate: 32 * KiB, slots: 2})
    const e = admitCopies([], [...want, {id: 'f', sources: ['n4'], destination: 'n9'}], cluster(null, 32 * KiB))
    expect(e.held.get('f')).toEqual({limit: 'receive', node: 'n9', rate: 32 * KiB, slots: 2})
  })

  it('counts a copy merged from several sources against each of them', () => {
    const d = admitCopies([], [{id: 'heal', sources: ['n1', 'n2'], destination: 'n9'}, {id: 'x', sources: ['n2'], destination: 'n8'}], cluster(null, 16 * KiB))
    expect(d.admitted).toEqual(['heal'])
    expect(d.held.get('x')).toMatchObject({limit: 'send', node: 'n2'})
  })
})

describe('CopyAdmission', () => {
  it('given a cluster rate cut live, then the copies admitted last are held, each left at the floor or more, and a raise lets them go on', () => {
    let rate: number | null = 64 * KiB
    const a = new CopyAdmission(() => cluster(rate))
    const want = copies(4)
    for (const c of want) a.bind(c.id)
    expect(want.map((c) => a.want(c))).toEqual([undefined, undefined, undefined, undefined])
    expect(a.copying()).toBe(4)
    rate = 32 * KiB
    expect(a.copying()).toBe(2)
    expect(rate / a.copying()).toBeGreaterThanOrEqual(FLOOR)
    expect(a.want(want[0]!)).toBeUndefined()
    expect(a.want(want[3]!)).toMatchObject({limit: 'cluster', slots: 2})
    expect(a.want(want[2]!)).toMatchObject({limit: 'cluster', slots: 2})
    rate = 48 * KiB
    expect(a.want(want[3]!)).toMatchObject({limit: 'cluster'})
    // The one admitted earlier (and held first) goes on first.
    expect(a.want(want[2]!)).toBeUndefined()
    rate = null
    expect(a.want(want[3]!)).toBeUndefined()
    expect(a.copying()).toBe(4)
  })

  it('given a copy that finishes, then its slot goes to the copy waiting longest, in the order the run started them', () => {
    const a = new CopyAdmission(() => cluster(16 * KiB))
    for (const id of ['m0', 'm1', 'm2']) a.bind(id)
    const [m0, m1, m2] = copies(3)
    // m2 asks before m1: the queue is the start order, not the order of asking.
    expect(a.want(m0!)).toBeUndefined()
    expect(a.want(m2!)).toBeDefined()
    expect(a.want(m1!)).toBeDefined()
    a.unbind('m0')
    expect(a.want(m2!)).toBeDefined()
    expect(a.want(m1!)).toBeUndefined()
  })

  it('leaves as many slots for new moves as the rate carries minus the moves that still have to copy', () => {
    let rate: number | null = 48 * KiB
    const a = new CopyAdmission(() => cluster(rate))
    expect(a.freeSlots()).toBe(3)
    a.bind('m0')
    a.bind('m1')
    expect(a.freeSlots()).toBe(1)
    rate = 16 * KiB
    expect(a.freeSlots()).toBe(0)
    a.unbind('m0')
    a.unbind('m1')
    expect(a.freeSlots()).toBe(1)
    rate = null
    expect(a.freeSlots()).toBe(Infinity)
  })

  it('splits a node rate over the admitted copies through the node', () => {
    const a = new CopyAdmission(() => cluster(null, 64 * KiB))
    a.want({id: 'a', sources: ['n1'], destination: 'n9'})
    a.want({id: 'b', sources: ['n1'], destination: 'n8'})
    expect(a.sharing('n1', 'send')).toBe(2)
    expect(a.sharing('n9', 'receive')).toBe(1)
    expect(a.sharing('n5', 'send')).toBe(1)
  })
})

describe('holdReason', () => {
  it('says which rate holds the copy, how many it carries and what lets it go on, recognisably a hold', () => {
    const r = holdReason({limit: 'cluster', rate: 32 * KiB, slots: 2})
    expect(r).toBe('held by the throttle: the cluster rate 32.0 KiB/s carries 2 copies at 16.0 KiB/s or more each; it copies when a running copy ends or `throttle set` raises the rate')
    expect(isThrottleHold(r)).toBe(true)
    expect(holdReason({limit: 'receive', node: 'n9', rate: 16 * KiB, slots: 1})).toContain("node n9's receive rate 16.0 KiB/s (--node-throttle) carries 1 copy at 16.0 KiB/s")
    expect(isThrottleHold('destination n2 unreachable')).toBe(false)
    expect(isThrottleHold(null)).toBe(false)
  })
})

describe('holdNoteDue', () => {
  const at32 = {limit: 'cluster', rate: 32 * KiB, slots: 2} as const
  it('announces a new hold and a hold by another rate, and rewrites a new figure of the same rate at most every HOLD_NOTE_MS (auto changes the rate every second)', () => {
    expect(holdNoteDue(undefined, at32, 0)).toBe('announce')
    expect(holdNoteDue({cause: at32, at: 0}, {limit: 'receive', node: 'n9', rate: 16 * KiB, slots: 1}, 1)).toBe('announce')
    expect(holdNoteDue({cause: {limit: 'send', node: 'n1', rate: 16 * KiB, slots: 1}, at: 0}, {limit: 'send', node: 'n2', rate: 16 * KiB, slots: 1}, 1)).toBe('announce')
    expect(holdNoteDue({cause: at32, at: 0}, at32, HOLD_NOTE_MS * 5)).toBe('keep')
    expect(holdNoteDue({cause: at32, at: 0}, {...at32, rate: 40 * KiB}, 1000)).toBe('keep')
    expect(holdNoteDue({cause: at32, at: 0}, {...at32, rate: 40 * KiB}, HOLD_NOTE_MS)).toBe('refresh')
  })
})
