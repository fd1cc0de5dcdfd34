import {createServer, type Server} from 'node:http'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {type CliChild} from '../../support/cliChild.js'
import {DataPlane, kv, waitFor} from '../router/dataPlane.js'
import {type RouterProcess, startRouterProcess} from '../router/routerProcess.js'
import {startNodeProcess} from './nodeProcess.js'

/**
 * `node serve --listen 127.0.0.1:0` binds any free port, so no other process can take it
 * between choosing and binding (as one could a port freePort chose and released): the node
 * prints the address it bound on its ready line and registers it (its record and alive/<id>),
 * and a router reaches it there, also after a restart on another port.
 */

let dp: DataPlane
let router: RouterProcess
const extra: CliChild[] = []

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'port0')
  await dp.init(1, 1, 1)
  router = await dp.startRouter('r1', ['--request-timeout', '3s'])
}, 90_000)

afterAll(async () => {
  await Promise.all(extra.map((p) => p.kill()))
  await dp?.teardown()
})

/** registered is the address node `id`'s record and its alive key name ([record, alive]). */
async function registered(id: string): Promise<[string | undefined, string | undefined]> {
  const read = async (key: string) => {
    const kvp = await dp.ctx.store.get(key)
    return kvp ? (JSON.parse(kvp.value) as {address: string}).address : undefined
  }
  return [await read(dp.ctx.keys.node(id)), await read(dp.ctx.keys.alive(id))]
}

describe('node serve --listen 127.0.0.1:0', {timeout: 90_000}, () => {
  it('Given a node started on port 0, When it serves, Then its ready line, its record and alive/<id> name the bound port and a router writes through it', async () => {
    const n1 = dp.nodes.n1!
    expect(n1.stdout()).toMatch(/^node n1 serving cluster \S+ on 127\.0\.0\.1:\d+$/m)
    expect(n1.address).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(n1.address).not.toBe('127.0.0.1:0')
    // The record named a placeholder port (DataPlane.init) until the node registered.
    expect(await registered('n1')).toEqual([n1.address, n1.address])
    expect((await kv(router.address, 'PUT', 'k1', 'v1')).status).toBe(204)
    expect((await kv(router.address, 'GET', 'k1')).body.toString()).toBe('v1')
  })

  it('Given the node restarted on port 0 (another port), When the router writes, Then it reaches the node at its new address', async () => {
    const before = dp.nodes.n1!
    before.signal('SIGTERM')
    await before.exited
    // Held while the node restarts: the new node cannot get its old port, so the router must follow the new one.
    const hold = createServer()
    await new Promise<void>((r) => hold.listen(Number(before.address.split(':')[1]), '127.0.0.1', r)).catch(() => undefined)
    try {
      const after = await startNodeProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'n1', port: 0, dataDir: dp.dataDirs.n1!})
      extra.push(after)
      expect(after.address).not.toBe(before.address)
      expect(await registered('n1')).toEqual([after.address, after.address])
      const put = await waitFor(async () => ((await kv(router.address, 'PUT', 'k2', 'v2')).status === 204 ? true : undefined), 'a write through the router after the restart', 20_000)
      expect(put).toBe(true)
      expect((await kv(router.address, 'GET', 'k1')).body.toString()).toBe('v1')
    } finally {
      hold.close()
    }
  })
})

describe('startNodeProcess on a fixed port', {timeout: 90_000}, () => {
  it('Given another process answering /healthz as the node on its port, When the harness starts the node there, Then it waits for the node itself (its ready line) and starts it once the port is free', async () => {
    const d = new DataPlane(inject('etcdEndpoint'), 'squat')
    let squatter: Server | undefined
    try {
      await d.init(1, 1, 1)
      const first = d.nodes.n1!
      first.signal('SIGTERM')
      await first.exited
      const port = await freePort()
      // A squatter that says it is n1 and serving: the harness took such a server for the node before.
      squatter = createServer((_req, res) => res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({node: 'n1', serving: true})))
      await new Promise<void>((r) => squatter!.listen(port, '127.0.0.1', r))
      const s = squatter
      setTimeout(() => s.close(), 1500)
      const proc = await startNodeProcess({endpoint: d.endpoint, cluster: d.cluster, id: 'n1', port, dataDir: d.dataDirs.n1!}, 30_000)
      extra.push(proc)
      expect(proc.gone()).toBe(false)
      const alive = await d.ctx.store.get(d.ctx.keys.alive('n1'))
      expect(alive && (JSON.parse(alive.value) as {pid: number; address: string})).toMatchObject({pid: proc.pid, address: `127.0.0.1:${port}`})
    } finally {
      squatter?.close()
      await d.teardown()
    }
  })
})

describe('node serve --json and router serve --json on port 0', {timeout: 90_000}, () => {
  /** jsonLines parses every line of a child's stdout (each must be JSON). */
  const jsonLines = (out: string) => out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)

  it('Given a node and a router started with --json on port 0, When they serve, Then each prints one JSON ready event with its bound address (no text line), and on SIGTERM one result line', async () => {
    // Whichever n1 runs (the first, or the earlier test's restart) stops first: one process serves an id.
    for (const p of [dp.nodes.n1!, ...extra]) p.signal('SIGTERM')
    await Promise.all([dp.nodes.n1!, ...extra].map((p) => p.exited))
    // startNodeProcess reads the address from the ready event: before it, --json printed nothing until the stop.
    const node = await startNodeProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'n1', port: 0, dataDir: dp.dataDirs.n1!, extra: ['--json']}, 30_000)
    extra.push(node)
    const r2 = await startRouterProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'r2', extra: ['--json']}, 30_000)
    extra.push(r2)
    expect(jsonLines(node.stdout())).toEqual([{type: 'ready', role: 'node', id: 'n1', cluster: dp.cluster, address: node.address}])
    expect(node.address).toMatch(/^127\.0\.0\.1:[1-9]\d*$/)
    expect(await registered('n1')).toEqual([node.address, node.address])
    expect(jsonLines(r2.stdout())).toEqual([{type: 'ready', role: 'router', id: 'r2', cluster: dp.cluster, address: r2.address}])
    expect(r2.address).toMatch(/^127\.0\.0\.1:[1-9]\d*$/)
    const put = await waitFor(async () => ((await kv(r2.address, 'PUT', 'k3', 'v3')).status === 204 ? true : undefined), 'a write through the --json router', 20_000)
    expect(put).toBe(true)
    node.signal('SIGTERM')
    r2.signal('SIGTERM')
    expect(await node.exited).toBe(0)
    expect(await r2.exited).toBe(0)
    const nodeOut = jsonLines(node.stdout())
    expect(nodeOut).toHaveLength(2)
    expect(nodeOut[1]).toMatchObject({type: 'result', node: 'n1'})
    const routerOut = jsonLines(r2.stdout())
    expect(routerOut).toHaveLength(2)
    expect(routerOut[1]).toMatchObject({type: 'result', id: 'r2', address: r2.address, drained: true})
  })
})
