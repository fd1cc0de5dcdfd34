import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {parseWriteFloor} from '../../../src/model/writeFloor.js'
import {DataPlane} from './dataPlane.js'

/**
 * The cluster's write floor with real `router serve` processes on real etcd: each lowers it to
 * its --w before it registers (the compare-and-swap on etcd's mod revision), two starting at
 * once both count, and it stays lowered after they stop (what a move whose source is down
 * reads: docs/moves.md "The write floor"). The memory-store tests force the interleavings
 * (test/router/writeFloorRecord.memoryStore.test.ts); this one checks the real processes and
 * the real store do it.
 */

let dp: DataPlane

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'wfloor')
  await dp.init(1, 1, 1)
})

afterAll(async () => {
  await dp?.teardown()
})

async function floor() {
  const kv = await dp.ctx.store.get(dp.ctx.keys.writeFloor)
  return kv && parseWriteFloor(kv.value)
}

describe('router serve and the write floor (real etcd)', () => {
  it('starts empty; a --w 2 and a --w 1 router started at once leave it at 1, a majority router adds its part, and it stays after they stop', {timeout: 120_000}, async () => {
    expect(await floor()).toMatchObject({w: null, majority: false})
    const [r2, r1] = await Promise.all([dp.startRouter('wf-2', ['--w', '2']), dp.startRouter('wf-1', ['--w', '1'])])
    expect(await floor()).toMatchObject({w: 1, majority: false})
    const rm = await dp.startRouter('wf-m')
    expect(await floor()).toMatchObject({w: 1, majority: true, by: 'wf-m'})
    // SIGTERM: each drains and revokes its registration, as a router that stopped for good.
    for (const r of [r2, r1, rm]) {
      r.signal('SIGTERM')
      await r.exited
    }
    expect(await dp.ctx.store.get(dp.ctx.keys.router('wf-1'))).toBeUndefined()
    expect(await floor()).toMatchObject({w: 1, majority: true})
  })
})
