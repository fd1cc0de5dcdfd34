import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {addNode} from '../../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {NodeSchema} from '../../../src/model/node.js'
import {exitedWithin} from '../../support/daemonProbe.js'
import {runCli} from '../../support/runCli.js'
import {DataPlane, keyFor, kv, waitFor} from '../router/dataPlane.js'
import {type NodeProcess, spawnNodeProcess, startNodeProcess} from './nodeProcess.js'

/**
 * A node id that holds replicas, started on a new, empty data dir (a replaced disk, a
 * mistyped --data-dir, a container that lost its volume), would serve its replicas with
 * none of their data and count in read and write quorums: at rf 3, w 2, r 2 a write
 * acknowledged by {n1, n2} is not found by a read that {n1, n3} answer. The node refuses
 * instead (the dir id its record names is not this dir's), changing nothing; its own dir
 * still starts, and a node that holds no replicas may take a new dir.
 */

let dp: DataPlane
const extraDirs: string[] = []
const children: NodeProcess[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'shardctl-emptydir-'))
  extraDirs.push(d)
  return d
}
const nodeRecord = async (id: string) => {
  const kv = await dp.ctx.store.get(dp.ctx.keys.node(id))
  return kv ? {modRevision: kv.modRevision, value: NodeSchema.parse(JSON.parse(kv.value))} : undefined
}
const aliveGone = (id: string) => waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.alive(id))) ? undefined : true), `alive/${id} to lapse`, 20_000)

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'emptydir')
  await dp.init(3, 2, 3)
}, 120_000)

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()))
  await dp?.teardown()
  for (const d of extraDirs) rmSync(d, {recursive: true, force: true})
})

describe('a node that holds replicas, started on a new data dir', () => {
  it('is refused (exit 2, one line naming dir, id, replicas and the fix), changes nothing, and its own dir still serves the acknowledged write', async () => {
    const shard = (await dp.shards())[0]!
    const key = keyFor(shard, 'acked')
    // The write is acknowledged by n1 and n2 only (n3 down), and the router that could hint n3 is gone before n3 returns.
    await dp.nodes.n3!.kill()
    const r1 = await dp.startRouter('r1')
    expect((await kv(r1.address, 'PUT', key, 'acknowledged')).status).toBe(204)
    await r1.kill()
    await dp.startNode('n3')
    expect((await nodeRecord('n1'))?.value.dataDirId).toMatch(/.+/)

    await dp.nodes.n1!.kill()
    await aliveGone('n1')
    const before = {record: await nodeRecord('n1'), shards: await dp.shards()}
    // A path that does not exist yet, as a mistyped --data-dir or a new empty mount point.
    const freshDir = join(tmp(), 'replaced-disk')
    const fresh = spawnNodeProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'n1', port: dp.ports.n1!, dataDir: freshDir})
    children.push(fresh)
    const outcome = await exitedWithin(fresh, 30_000)
    if (outcome === 'still running') {
      // What serving it costs (the behaviour this test guards against): a quorum read {n1, n3} misses the write.
      await dp.nodes.n2!.kill()
      const r2 = await dp.startRouter('r2')
      const got = await kv(r2.address, 'GET', key)
      expect.fail(`n1 served an empty data dir while it holds replicas; a quorum read of the acknowledged write then answered ${got.status}`)
    }
    const errors = fresh.logs().split('\n').filter((l) => l.startsWith('Error:'))
    expect({outcome, errors}, fresh.logs()).toEqual({outcome: 2, errors: [expect.stringContaining(freshDir)]})
    expect(errors[0]).toMatch(/node n1 holds replicas of 2 shards/)
    expect(errors[0]).toMatch(/--data-dir/)
    expect(errors[0]).toMatch(/shardctl node drain n1/)
    // Nothing changed: no claim, the record as it was, the map as it was, and no dir made.
    expect(await dp.ctx.store.get(dp.ctx.keys.alive('n1'))).toBeUndefined()
    expect(await nodeRecord('n1')).toEqual(before.record)
    expect(await dp.shards()).toEqual(before.shards)
    expect(existsSync(freshDir)).toBe(false)

    // Its own dir still starts, and serves what it acknowledged: a read {n1, n3} finds the write.
    await dp.startNode('n1')
    await dp.nodes.n2!.kill()
    const r2 = await dp.startRouter('r2')
    const got = await kv(r2.address, 'GET', key)
    expect({status: got.status, value: got.body.toString()}).toEqual({status: 200, value: 'acknowledged'})
    await dp.startNode('n2')

    // The operator's override (a disk lost at rf 1): the new dir serves, with a warning, and is
    // recorded; the old dir is then the other one, refused in turn (it exists: judged once open).
    await dp.nodes.n1!.kill()
    const overridden = await startNodeProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'n1', port: dp.ports.n1!, dataDir: join(tmp(), 'accepted'), extra: ['--accept-empty-data']})
    children.push(overridden)
    expect(overridden.logs()).toMatch(/although it holds replicas of 2 shards .*--accept-empty-data/)
    expect((await nodeRecord('n1'))?.value.dataDirId).not.toBe(before.record?.value.dataDirId)
    await overridden.kill()
    const old = spawnNodeProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'n1', port: dp.ports.n1!, dataDir: dp.dataDirs.n1!})
    children.push(old)
    expect(await exitedWithin(old, 30_000), old.logs()).toBe(2)
    expect(old.logs()).toContain(`Error: data dir ${dp.dataDirs.n1!} is not the one node n1 last served from`)
  }, 240_000)
})

describe('a node that holds no replicas', () => {
  it('starts on a new dir, records its dir id, and may take another new dir', async () => {
    const port = await freePort()
    await addNode(dp.ctx, parseNodeSpecs(`n4=127.0.0.1:${port}`)[0]!, undefined)
    const start = (dataDir: string) => startNodeProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'n4', port, dataDir})
    const first = await start(tmp())
    children.push(first)
    const recorded = (await nodeRecord('n4'))?.value.dataDirId
    expect(recorded).toMatch(/.+/)
    await first.kill()
    await aliveGone('n4')
    const second = await start(tmp())
    children.push(second)
    const now = (await nodeRecord('n4'))?.value.dataDirId
    expect(now).toMatch(/.+/)
    expect(now).not.toBe(recorded)
    await second.kill()
  }, 120_000)
})

describe('the fix the refusal names when the old dir is lost', () => {
  it('drain the id while it is down (its replicas copied from the surviving ones), then it starts on the new dir and the write is still read', async () => {
    const dp2 = new DataPlane(inject('etcdEndpoint'), 'emptydir-drain')
    try {
      await dp2.init(4, 2, 3)
      const router = await dp2.startRouter('r1')
      const shard = (await dp2.shards())[0]!
      const id = shard.replicas[0]!.node
      const key = keyFor(shard, 'drained')
      expect((await kv(router.address, 'PUT', key, 'kept')).status).toBe(204)
      await dp2.nodes[id]!.kill()
      const newDisk = join(tmp(), 'new-disk')
      const node = {endpoint: dp2.endpoint, cluster: dp2.cluster, id, port: dp2.ports[id]!, dataDir: newDisk}
      const refused = spawnNodeProcess(node)
      children.push(refused)
      expect(await exitedWithin(refused, 30_000), refused.logs()).toBe(2)

      const drained = await runCli(['node', 'drain', id, '--yes', '--drain-timeout', '3s', '--endpoints', dp2.endpoint, '--cluster', dp2.cluster], {cwd: tmp(), timeoutMs: 150_000})
      expect(drained.code, drained.stderr + drained.stdout).toBe(0)
      const started = await startNodeProcess(node)
      children.push(started)
      expect(started.logs()).toMatch(/serving from a new data dir: the node holds no replicas/)
      const got = await kv(router.address, 'GET', key)
      expect({status: got.status, value: got.body.toString()}).toEqual({status: 200, value: 'kept'})
    } finally {
      await dp2.teardown()
    }
  }, 240_000)
})
