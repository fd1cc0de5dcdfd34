import {afterEach, describe, expect, it, vi} from 'vitest'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type NodeRecord} from '../../src/node/protocol.js'
import {RouterMetrics} from '../../src/router/routerMetrics.js'
import {routerHints} from '../../src/router/routerService.js'
import {RoutingTable} from '../../src/router/routingTable.js'
import {type ShardMapView} from '../../src/router/shardMapView.js'
import {shardOf} from './fixtures.js'

const record: NodeRecord = {key: Buffer.from('k'), version: '000001700000000.000000.r1', value: Buffer.from('v')}

/**
 * queueFor builds the router's hint queue as `router serve` wires it (routerHints), on a map
 * of one rf 3 shard, with n3 reached through a fake apply that records each delivery.
 * `stepWallClock` moves Date.now by `ms` from then on, as an NTP step of the router's clock
 * does (performance.now does not move); Date.now is replaced before the queue is built, so
 * whatever clock it took is the one that steps.
 */
function queueFor(apply: () => Promise<unknown>) {
  const real = Date.now.bind(Date)
  let offset = 0
  vi.spyOn(Date, 'now').mockImplementation(() => real() + offset)
  const stepWallClock = (ms: number) => (offset += ms)
  const table = RoutingTable.of([shardOf(1, 'n1 n2 n3', {epoch: 4})])
  const view = {table: () => table, refresh: async () => {}} as unknown as ShardMapView
  const deliveries: {shard: number; epoch: number}[] = []
  const client = {
    apply: async (shard: number, epoch: number) => {
      deliveries.push({shard, epoch})
      return apply()
    },
  } as unknown as NodeClient
  const queue = routerHints(500, {view, metrics: new RouterMetrics()}, (node) => (node === 'n3' ? client : undefined))
  return {queue, deliveries, stepWallClock}
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe("the router's hint queue across a step of its wall clock", () => {
  it('Given a hint pending, When the wall clock steps a minute forward, Then the hint is still delivered (it has not been pending 30 s), not expired', async () => {
    const {queue, deliveries, stepWallClock} = queueFor(async () => ({epoch: 4, applied: 1, ignored: 0, superseded: []}))
    expect(queue.add({shard: 1, epoch: 4, node: 'n3', record})).toBe(true)
    stepWallClock(60_000)
    await vi.waitFor(() => expect(deliveries).toEqual([{shard: 1, epoch: 4}]), {timeout: 5000})
    await queue.close()
  })

  it('Given a hint pending, When the wall clock steps an hour back, Then its delivery still comes after its backoff, not an hour later', async () => {
    const {queue, deliveries, stepWallClock} = queueFor(async () => ({epoch: 4, applied: 1, ignored: 0, superseded: []}))
    expect(queue.add({shard: 1, epoch: 4, node: 'n3', record})).toBe(true)
    stepWallClock(-3_600_000)
    await vi.waitFor(() => expect(deliveries).toEqual([{shard: 1, epoch: 4}]), {timeout: 5000})
    await queue.close()
  })
})
