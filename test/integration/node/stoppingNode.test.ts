import {type ClientRequest, type IncomingMessage, request} from 'node:http'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {keyHash} from '../../../src/model/hash.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Shard} from '../../../src/model/shard.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {RECORDS_CONTENT_TYPE, TOKEN_HEADER} from '../../../src/node/protocol.js'
import {encodeRecords} from '../../../src/node/recordCodec.js'
import {type CliChild} from '../../support/cliChild.js'
import {exitedWithin} from '../../support/daemonProbe.js'
import {waitFor} from '../router/dataPlane.js'
import {assertNodeDistFresh, spawnNodeProcess} from './nodeProcess.js'
import {registerCluster, type RegisteredCluster} from './twoNodeCluster.js'

/**
 * A SIGTERM drain holds the node id until its lease is revoked. The node used to close its
 * listener first and revoke its lease last: a `node serve --id n1` started by hand while the
 * first still finished its in-flight writes probed n1's address, found it refused, judged
 * n1 dead and took alive/n1 over while n1 still acknowledged writes. Now the stopping node
 * answers /healthz (`stopping`) until its lease is revoked, and the starter waits for the key
 * to go before it claims, listens (same port, same data dir: an operator's restart) and serves.
 */

const children: CliChild[] = []
let cluster: RegisteredCluster
let port: number
let dataDir: string
let shard: Shard

beforeAll(async () => {
  assertNodeDistFresh()
  cluster = await registerCluster(inject('etcdEndpoint'), 'stopnode', {shards: 1, rf: 1, nodes: ['n1']})
  port = cluster.ports.n1!
  shard = cluster.shards[0]!
  dataDir = mkdtempSync(join(tmpdir(), 'shardctl-stopnode-n1-'))
})

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()))
  cluster?.close()
  if (dataDir) rmSync(dataDir, {recursive: true, force: true})
})

function serveN1(): CliChild {
  // A 20 s lease: the starter waits up to 30 s for a stopping holder's key; the drain gets 60 s.
  const child = spawnNodeProcess({...cluster.connection, id: 'n1', port, dataDir, leaseTtl: '20s', statsInterval: '300ms', extra: ['--shutdown-timeout', '60s']})
  children.push(child)
  return child
}

async function health(): Promise<{serving: boolean; instance?: string; stopping?: boolean} | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, {signal: AbortSignal.timeout(2000)})
    return (await res.json()) as {serving: boolean; instance?: string; stopping?: boolean}
  } catch {
    return undefined
  }
}

/** slowApply sends an apply whose body arrives in two parts: the node lets it in on its headers and waits for the rest. */
function slowApply(token: string, body: Buffer): {req: ClientRequest; response: Promise<{status: number; body: string}>} {
  const req = request({host: '127.0.0.1', port, method: 'POST', path: `/v1/shards/${shard.id}/apply?epoch=${shard.epoch}&kind=write`, headers: {[TOKEN_HEADER]: token, 'content-type': RECORDS_CONTENT_TYPE, 'content-length': body.length}})
  const response = new Promise<{status: number; body: string}>((resolve, reject) => {
    req.once('response', (res: IncomingMessage) => {
      let text = ''
      res.on('data', (d) => (text += d))
      res.once('end', () => resolve({status: res.statusCode ?? 0, body: text}))
    })
    req.once('error', reject)
  })
  req.flushHeaders()
  req.write(body.subarray(0, 4))
  return {req, response}
}

describe('node serve for an id whose process is draining after SIGTERM', () => {
  it('waits until the old process acknowledged its in-flight write and revoked its lease, then serves on the same port and data dir', async () => {
    const first = serveN1()
    await waitFor(async () => ((await health())?.serving ? true : undefined), 'n1 to serve', 45_000)
    const firstPid = first.pid
    expect(await cluster.alivePid('n1')).toBe(firstPid)

    const token = await loadClusterToken(cluster.ctx, {create: false})
    let key = Buffer.alloc(0)
    for (let i = 0; ; i++) {
      key = Buffer.from(`stop-${i}`)
      if (keyHash(key) >= shard.range.lo && keyHash(key) < shard.range.hi) break
    }
    const body = encodeRecords([{key, version: formatHlc({wall: Date.now(), counter: 0, writer: 'test'}), value: Buffer.from('written during the drain')}])
    const write = slowApply(token, body)
    const peek = new NodeClient({node: 'n1', address: `127.0.0.1:${port}`, token, timeoutMs: 5000})
    await waitFor(async () => ((await peek.inflight(shard.id, {timeoutMs: 2000}).catch(() => undefined))?.inflight === 1 ? true : undefined), 'the slow write to be in flight', 20_000)
    await peek.destroy()

    first.signal('SIGTERM')
    await waitFor(async () => (/shutting down/.test(first.logs()) ? true : undefined), 'n1 to start shutting down', 20_000)
    const second = serveN1()
    // Let the second process probe and decide: it must wait, not take over.
    await waitFor(async () => (/which is shutting down: waiting up to \d+ ms/.test(second.logs()) || (await cluster.alivePid('n1')) !== firstPid || second.gone() ? true : undefined), 'the second process to judge n1', 30_000)
    await new Promise((r) => setTimeout(r, 1500))
    expect(first.gone(), first.logs()).toBe(false)
    expect(await cluster.alivePid('n1'), second.logs()).toBe(firstPid)
    expect(second.gone(), second.logs()).toBe(false)
    expect(second.logs()).not.toMatch(/taking it over/)
    expect(await health()).toMatchObject({serving: false, stopping: true})

    // The write completes: the old process acknowledges it, then gives up the id.
    write.req.end(body.subarray(4))
    const answer = await write.response
    expect(answer.status, answer.body).toBe(200)
    expect(await exitedWithin(first, 30_000), first.logs()).toBe(0)

    await waitFor(async () => ((await health())?.serving ? true : undefined), 'the second process to serve', 45_000)
    expect(await cluster.alivePid('n1')).toBe(second.pid)
    expect(second.logs()).not.toMatch(/cannot listen/)
    const c = new NodeClient({node: 'n1', address: `127.0.0.1:${port}`, token, timeoutMs: 10_000})
    try {
      expect((await c.get(shard.id, shard.epoch, key)).record?.value?.toString()).toBe('written during the drain')
    } finally {
      await c.destroy()
    }
    second.signal('SIGTERM')
    expect(await exitedWithin(second, 30_000), second.logs()).toBe(0)
  }, 150_000)
})
