import {describe, expect, it, vi} from 'vitest'
import {ClockMonitor} from '../../src/clock/clockMonitor.js'
import {type ClockVerdict} from '../../src/clock/clockOffsetTracker.js'

/** Given a monitor whose own clock is `skew` ms off peers that read `truth`, probed by hand. */
function monitor(skew: () => number, peerIds = ['node:a', 'node:b', 'router:r', 'node:self']) {
  let truth = 1_000_000
  const changes: ClockVerdict[] = []
  const m = new ClockMonitor(undefined, {
    self: 'node:self',
    maxOffsetMs: 500,
    peers: async () => peerIds.map((id) => ({id, address: id})),
    probe: async (address) => {
      if (address === 'node:self') throw new Error('probed itself')
      truth += 1
      return truth
    },
    now: () => truth + skew(),
    onChange: (v) => changes.push(v),
  })
  return {m, changes}
}

describe('ClockMonitor', () => {
  it('Given a round stuck on etcd (listing its peers, etcd frozen), When stopped, Then stop() resolves within a second instead of waiting for etcd', async () => {
    vi.useFakeTimers()
    try {
      const m = new ClockMonitor(undefined, {self: 'node:self', maxOffsetMs: 500, peers: () => new Promise(() => {}), probe: async () => 0})
      m.start()
      let stopped = false
      void m.stop().then(() => (stopped = true))
      await vi.advanceTimersByTimeAsync(1000)
      expect(stopped).toBe(true)
    } finally {
      vi.useRealTimers()
    }
  })

  it('closes the write gate while our clock is 2 s ahead of every peer, and reopens it when the clock is fixed', async () => {
    let skew = 2000
    const {m, changes} = monitor(() => skew)
    await m.probeRound()
    expect(m.writeGate()).toMatchObject({ok: false})
    expect(m.verdict()).toMatchObject({peers: 3, beyond: 3})
    expect(m.verdict().offsetMs).toBeGreaterThan(1900)
    skew = 20
    await m.probeRound()
    expect(m.writeGate()).toEqual({ok: true})
    expect(changes.map((c) => c.ok)).toEqual([false, true])
  })

  it('keeps the gate open within the bound, behind as well as ahead', async () => {
    for (const skew of [-400, 400]) {
      const {m} = monitor(() => skew)
      await m.probeRound()
      expect(m.writeGate()).toEqual({ok: true})
    }
  })

  it('closes it for a clock 2 s behind as well', async () => {
    const {m} = monitor(() => -2000)
    await m.probeRound()
    expect(m.writeGate()).toMatchObject({ok: false})
    expect(m.verdict().offsetMs).toBeLessThan(-1900)
  })
})
