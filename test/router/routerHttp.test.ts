import {type AddressInfo} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {HybridClock} from '../../src/model/hlc.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
import {Coordinator} from '../../src/router/coordinator.js'
import {createRouterHttp, type RouterErrorBody, type RouterHttp} from '../../src/router/routerHttp.js'
import {RouterMetrics} from '../../src/router/routerMetrics.js'
import {RoutingTable} from '../../src/router/routingTable.js'
import {FakeNode} from './fakeNode.js'
import {shardOf} from './fixtures.js'

let http: RouterHttp | undefined

afterEach(async () => {
  http?.server.closeAllConnections()
  await new Promise((r) => http?.server.close(r) ?? r(undefined))
  http = undefined
})

/** serveOver serves the client API on 127.0.0.1 over a coordinator of one rf 3 shard on fake nodes a, b, c; returns its base URL. */
async function serveOver(nodes: Map<string, FakeNode>): Promise<string> {
  const table = RoutingTable.of([shardOf(0, 'a b c')])
  const coordinator = new Coordinator({
    map: {table: () => table, refresh: async () => {}},
    node: (id) => nodes.get(id),
    clock: new HybridClock('r1', () => 1000),
    now: () => 0,
    options: {quorum: {}, nodeTimeoutMs: 100, requestTimeoutMs: 1000, staleRetries: 1},
  })
  http = createRouterHttp({kv: coordinator, metrics: new RouterMetrics({defaultMetrics: false}), serving: () => true, health: () => ({})})
  await new Promise<void>((r) => http!.server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(http.server.address() as AddressInfo).port}`
}

describe('router HTTP: the 503 body of a quorum not reached', () => {
  it('Given a write where one replica times out and one refuses the connection, Then the body names both and marks only the timed-out one timedOut', async () => {
    const nodes = new Map(['a', 'b', 'c'].map((id) => [id, new FakeNode(id)]))
    nodes.get('a')!.apply = async () => {
      throw new NodeRequestError('NODE_UNREACHABLE', 'node a: timed out after 100 ms', 'a', 0, undefined, {timedOut: true})
    }
    nodes.get('c')!.down = true
    const res = await fetch(`${await serveOver(nodes)}/kv/x`, {method: 'PUT', body: 'v'})
    expect(res.status).toBe(503)
    const body = (await res.json()) as RouterErrorBody
    expect(body.code).toBe('QUORUM_FAILED')
    const byNode = new Map(body.failed?.map((f) => [f.node, f]))
    expect(byNode.get('a')).toMatchObject({code: 'NODE_UNREACHABLE', timedOut: true})
    expect(byNode.get('c')).toMatchObject({code: 'NODE_UNREACHABLE'})
    // Only when true: a refusal's entry stays as it was.
    expect(Object.keys(byNode.get('c')!).sort()).toEqual(['code', 'message', 'node'])
  })
})
