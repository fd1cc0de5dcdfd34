import {createServer, type Server} from 'node:http'
import {afterEach, describe, expect, it} from 'vitest'
import {healthzNames, type ReadyChild, waitServing} from '../../src/demo/demoReady.js'
import {readyLine} from '../../src/daemon/readyLine.js'

/** A squatter: an HTTP server that answers /healthz 200 with `body` (another process that took a port). */
async function squatter(body: Record<string, unknown>): Promise<{server: Server; address: string}> {
  const server = createServer((_req, res) => res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify(body)))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {server, address: `127.0.0.1:${(server.address() as {port: number}).port}`}
}

/** child is a demo child that printed `out` and is still running. */
function child(out: () => string): ReadyChild {
  return {name: 'node-n1', printed: out, output: out, exited: () => false}
}

const servers: Server[] = []
afterEach(() => {
  for (const s of servers.splice(0)) s.close()
})

describe('demo waitServing (a child started on port 0)', () => {
  it('Given another process answering /healthz 200 serving on a port, When the child has not printed its ready line, Then the wait does not take that answer for the child', async () => {
    const sq = await squatter({serving: true})
    servers.push(sq.server)
    // Before, the demo chose the port, dialed it and took any 200 there for its child.
    const w = waitServing(child(() => '{"level":"info","msg":"starting"}\n'), {role: 'node', id: 'n1', tls: undefined, timeoutMs: 1200}, AbortSignal.timeout(60_000))
    await expect(w).rejects.toThrow(/node-n1 did not serve within 1\.2 s/)
  })

  it('Given the child printed its ready line but another process answers there for another id, When it waits, Then that is not the child; once the answer names the child, the address is returned', async () => {
    const other = await squatter({serving: true, node: 'n2'})
    servers.push(other.server)
    const line = (address: string) => `${readyLine({role: 'node', id: 'n1', cluster: 'demo', address}, false)}\n`
    await expect(waitServing(child(() => line(other.address)), {role: 'node', id: 'n1', tls: undefined, timeoutMs: 1200}, AbortSignal.timeout(60_000))).rejects.toThrow(/did not serve/)
    const own = await squatter({serving: true, node: 'n1'})
    servers.push(own.server)
    expect(await waitServing(child(() => line(own.address)), {role: 'node', id: 'n1', tls: undefined, timeoutMs: 5000}, AbortSignal.timeout(60_000))).toBe(own.address)
  })

  it('Given /healthz answers, When judged, Then only a 200 naming the role and id that does not say it is not serving counts', () => {
    expect(healthzNames('node', 'n1', 200, {node: 'n1', serving: true})).toBe(true)
    expect(healthzNames('router', 'r', 200, {router: 'r', serving: true})).toBe(true)
    expect(healthzNames('node', 'n1', 200, {node: 'n1', serving: false})).toBe(false)
    expect(healthzNames('node', 'n1', 503, {node: 'n1'})).toBe(false)
    expect(healthzNames('node', 'n1', 200, {router: 'n1'})).toBe(false)
    expect(healthzNames('node', 'n1', 200, {})).toBe(false)
    expect(healthzNames('node', 'n1', 200, undefined)).toBe(false)
  })
})
