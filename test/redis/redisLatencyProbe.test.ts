import {type Redis} from 'ioredis'
import {describe, expect, it} from 'vitest'
import {RedisLatencyProbe} from '../../src/redis/redisLatencyProbe.js'

/** FakeMaster answers PING only when the test releases it, so the probe's clock alone decides the figures. */
class FakeMaster {
  pending: (() => void)[] = []
  disconnected = false
  ping(): Promise<string> {
    return new Promise((resolve) => this.pending.push(() => resolve('PONG')))
  }
  disconnect(): void {
    this.disconnected = true
  }
  answer(): void {
    this.pending.shift()?.()
  }
}

const flush = () => new Promise((r) => setImmediate(r))

describe('RedisLatencyProbe', () => {
  it('records answered round trips, counts a PING still in flight at its age, and says null before anything was measured', async () => {
    let now = 0
    const masters = new Map([['a:1', new FakeMaster()]])
    const probe = new RedisLatencyProbe({now: () => now, connect: async (address) => masters.get(address) as unknown as Redis, intervalMs: 1_000_000})
    expect(probe.takeP99()).toBeNull()
    probe.watch(['a:1'])
    await flush()
    now = 7
    masters.get('a:1')?.answer()
    await flush()
    expect(probe.takeP99()).toBe(7)
    // The next PING goes after the interval; force one by watching anew after a close.
    probe.close()
    expect(masters.get('a:1')?.disconnected).toBe(true)
    const b = new FakeMaster()
    masters.set('b:1', b)
    const probe2 = new RedisLatencyProbe({now: () => now, connect: async (address) => masters.get(address) as unknown as Redis, intervalMs: 1_000_000})
    probe2.watch(['b:1'])
    await flush()
    now += 400 // b is stalled: its PING has waited 400 ms and is still unanswered
    expect(probe2.takeP99()).toBe(400)
    probe2.close()
  })

  it('stops probing a master no longer watched and disconnects it', async () => {
    const a = new FakeMaster()
    const probe = new RedisLatencyProbe({now: () => 0, connect: async () => a as unknown as Redis, intervalMs: 1_000_000})
    probe.watch(['a:1'])
    await flush()
    expect(probe.watching()).toEqual(['a:1'])
    probe.watch([])
    expect(probe.watching()).toEqual([])
    expect(a.disconnected).toBe(true)
    expect(probe.takeP99()).toBeNull()
  })
})
