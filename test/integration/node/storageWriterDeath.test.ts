/**
 * A node whose storage writer thread dies must stop serving and end with NOT_SERVING (exit
 * 15) so a supervisor restarts it, instead of serving reads and reporting healthy while every
 * write fails. Real etcd, a real StorageNode on 127.0.0.1 with its real writer thread.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {EXIT_CODES} from '../../../src/errors/codes.js'
import {type NodeLog} from '../../../src/node/nodeLog.js'
import {runUntilStopped, StorageNode, type StorageNodeOptions} from '../../../src/node/storageNode.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

const stores = new StoreSet()
const dirs: string[] = []
let ctx: ServiceContext
/** address is where the node under test serves (it listens on port 0: the port it bound). */
let address: string

beforeAll(async () => {
  const cluster = uniqueCluster('writerdeath')
  ctx = makeServiceContext(stores.open(inject('etcdEndpoint'), cluster), {cluster})
  // A placeholder port: the node listens on port 0 and registers the port it bound.
  await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1'), force: false})
})
afterAll(() => {
  stores.closeAll()
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

async function health(): Promise<{serving: boolean}> {
  const res = await fetch(`http://${address}/healthz`, {signal: AbortSignal.timeout(5000)})
  return (await res.json()) as {serving: boolean}
}

describe('a node whose storage writer thread dies', {timeout: 60_000}, () => {
  it('Given a serving node, When its writer thread dies, Then /healthz says not serving, one error line names the cause, and the run ends with NOT_SERVING (exit 15) after stopping the node', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'shardctl-writerdeath-'))
    dirs.push(dataDir)
    const errors: string[] = []
    const log: NodeLog = {info: () => {}, warn: () => {}, error: (msg) => errors.push(msg)}
    const opts: StorageNodeOptions = {id: 'n1', listenHost: '127.0.0.1', listenPort: 0, dataDir, statsIntervalMs: 60_000, leaseTtlSeconds: 5, tombstoneGraceMs: 60_000, shutdownTimeoutMs: 1000, synchronous: 'NORMAL', log}
    const node = await StorageNode.start(ctx, opts)
    address = node.address()
    let run: Promise<unknown> | undefined
    try {
      expect(await health()).toMatchObject({serving: true})
      // Kill the thread as a crash would (no close request).
      const engine = (node as unknown as {engine: {writer: {worker: {terminate(): Promise<void>}}}}).engine
      await engine.writer.worker.terminate()
      await node.storageFailure()
      // Not serving from the failure on, even before anything stops the node.
      expect(await health()).toMatchObject({serving: false})
      run = runUntilStopped(node, opts).then(
        () => undefined,
        (e: unknown) => e,
      )
      const err = (await run) as {code?: string; message?: string} | undefined
      expect(err?.code).toBe('NOT_SERVING')
      expect(err?.message).toMatch(/storage writer failed \(storage writer thread exited/)
      expect(EXIT_CODES.NOT_SERVING).toBe(15)
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatch(/^storage writer failed: storage writer thread exited \(code \d+\); not serving/)
      expect(errors[0]).not.toContain('\n')
      // Stopped: the port no longer answers.
      await expect(health()).rejects.toThrow()
    } finally {
      if (!run) await node.stop('test')
    }
  })
})
