import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {exitedWithin} from '../../support/daemonProbe.js'
import {type NodeProcess, startNodeProcess} from './nodeProcess.js'
import {registerCluster, type RegisteredCluster} from './twoNodeCluster.js'

/**
 * A node whose log reader goes away (the pipe its stderr goes to: `| tee`, a log shipper or a
 * supervisor's logger killed or restarted): its next log line failed with EPIPE, which
 * process.stderr reports as an 'error' event; with no listener that was an uncaught exception,
 * and the node died. A SIGTERM (whose first act is a log line) then ended it with exit 1,
 * its lease never revoked: alive/<id> stayed until the TTL, barriers waited on it. The node
 * must go on without its log lines: serve, and stop cleanly.
 */

let cluster: RegisteredCluster
let dir: string
let proc: NodeProcess

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-lostlog-'))
  cluster = await registerCluster(inject('etcdEndpoint'), 'lostlog', {shards: 1, rf: 1, nodes: ['n1']})
  // A long lease: an alive/n1 still there after the exit is the lease left unrevoked, not yet expired.
  proc = await startNodeProcess({...cluster.connection, id: 'n1', port: cluster.ports.n1!, dataDir: join(dir, 'n1'), leaseTtl: '60s'})
}, 90_000)

afterAll(async () => {
  await proc?.kill()
  cluster?.close()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('storage node: its log reader gone', () => {
  it('stops on SIGTERM with exit 0 and its lease revoked, though no log line can be written', async () => {
    expect(await cluster.ctx.store.get(cluster.ctx.keys.alive('n1'))).toBeDefined()
    proc.closeOutput()
    proc.signal('SIGTERM')
    expect(await exitedWithin(proc, 30_000)).toBe(0)
    expect(await cluster.ctx.store.get(cluster.ctx.keys.alive('n1'))).toBeUndefined()
  }, 60_000)
})
