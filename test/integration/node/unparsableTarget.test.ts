import {mkdtempSync, rmSync} from 'node:fs'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {type NodeProcess, startNodeProcess} from './nodeProcess.js'
import {registerCluster, type RegisteredCluster} from './twoNodeCluster.js'

/**
 * A request whose target is no URL relative to the node (`GET //`, an absolute `http://[x`,
 * a port out of range): node:http hands it to the handler as is, and `new URL` of it throws.
 * The node answered 500, and then its metrics hook, run on the response's 'finish' event,
 * parsed the target again outside any handler: an uncaught exception, which ends a Node 20
 * process. One mistyped probe took a storage node down.
 */

let cluster: RegisteredCluster
let dir: string
let proc: NodeProcess

/** rawStatus sends `GET <target>` on a fresh connection and resolves with the answer's status line ('' when the connection closed without one). */
function rawStatus(address: string, target: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))]
  return new Promise((resolve) => {
    let out = ''
    const c = connect(port, host, () => c.write(`GET ${target} HTTP/1.1\r\nhost: ${address}\r\nconnection: close\r\n\r\n`))
    c.setTimeout(10_000, () => c.destroy())
    c.on('data', (d: Buffer) => (out += d.toString('latin1')))
    c.on('error', () => {})
    c.on('close', () => resolve(out.split('\r\n')[0] ?? ''))
  })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-target-'))
  cluster = await registerCluster(inject('etcdEndpoint'), 'badtarget', {shards: 1, rf: 1, nodes: ['n1']})
  proc = await startNodeProcess({...cluster.connection, id: 'n1', port: cluster.ports.n1!, dataDir: join(dir, 'n1')})
}, 90_000)

afterAll(async () => {
  await proc?.kill()
  cluster?.close()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('storage node: a request target that is no URL', () => {
  it('is answered 400 BAD_INPUT and the node keeps serving', async () => {
    const targets = ['//', 'http://[x', 'http://a:99999/v1/stats']
    const answers: string[] = []
    for (const target of targets) answers.push(await rawStatus(proc.address, target))
    // The process died on the first answer's 'finish': give a late crash the time to show.
    await new Promise((r) => setTimeout(r, 300))
    expect(proc.gone(), proc.logs().slice(-2000)).toBe(false)
    expect(await rawStatus(proc.address, '/healthz')).toBe('HTTP/1.1 200 OK')
    expect(answers).toEqual(targets.map(() => 'HTTP/1.1 400 Bad Request'))
  }, 30_000)
})
