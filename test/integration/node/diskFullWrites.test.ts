/**
 * A node whose disk fills under client writes through a router (rf 1: the full node is the
 * only replica). Clients get a 503 whose failed replica says, in one line, that the node is
 * out of disk space, which dir, and what to do (before: 500 INTERNAL "internal error", and
 * a stack in the node's log per refused write); the node keeps serving reads; every
 * acknowledged write stays readable, through a SIGKILL and a restart on the still full
 * disk, and after space is freed; writes commit again by themselves once there is room.
 * Real etcd, real node and router processes; the node's data dir is on a small tmpfs
 * (needs root; skipped with the reason otherwise).
 */
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {DataPlane, kv, waitFor} from '../router/dataPlane.js'
import {type RouterProcess} from '../router/routerProcess.js'
import {isRefusal, mountTmpfs, type TmpfsDisk} from './tmpfsDisk.js'

const mounted = mountTmpfs('diskfull', 24)
const disk: TmpfsDisk | undefined = isRefusal(mounted) ? undefined : mounted
const skipped = isRefusal(mounted) ? ` (skipped: ${mounted.refused})` : ''

let dp: DataPlane
let router: RouterProcess

beforeAll(async () => {
  if (!disk) return
  dp = new DataPlane(inject('etcdEndpoint'), 'diskfull')
  dp.dataDirs.n1 = disk.dataDir
  await initCluster(dp.ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:1'), force: false})
  // A placeholder port in the record: the node starts on port 0 and registers the port it bound (dp.ports).
  await dp.startNode('n1')
  dp.token = await loadClusterToken(dp.ctx, {create: false})
  router = await dp.startRouter('r1')
})

afterAll(async () => {
  try {
    await dp?.teardown()
  } finally {
    disk?.unmount()
  }
})

/** valueOf is key number `i`'s value: 16 KiB, so a few MiB of room fill in a few hundred writes at most. */
const valueOf = (i: number) => Buffer.alloc(16 * 1024, i % 251)

interface Refusal {
  status: number
  json?: Record<string, unknown>
}

/** writeUntilFull writes new keys through the router until `refusals` writes were refused (bounded: 2000 writes); returns the acknowledged keys' numbers and the refusals. */
async function writeUntilFull(refusals: number): Promise<{acked: number[]; refused: Refusal[]}> {
  const acked: number[] = []
  const refused: Refusal[] = []
  for (let i = 0; i < 2000 && refused.length < refusals; i++) {
    const r = await kv(router.address, 'PUT', `k${i}`, valueOf(i))
    if (r.status === 204) acked.push(i)
    else refused.push({status: r.status, json: r.json})
  }
  return {acked, refused}
}

/** unreadable lists the acknowledged keys the router does not read back with their value. */
async function unreadable(acked: number[]): Promise<string[]> {
  const bad: string[] = []
  for (const i of acked) {
    const r = await kv(router.address, 'GET', `k${i}`)
    if (r.status !== 200 || !r.body.equals(valueOf(i))) bad.push(`k${i}: ${r.status}`)
  }
  return bad
}

async function healthz(): Promise<{serving: boolean}> {
  const res = await fetch(`http://127.0.0.1:${dp.ports.n1}/healthz`, {signal: AbortSignal.timeout(5000)})
  return (await res.json()) as {serving: boolean}
}

describe.skipIf(!disk)(`a node whose disk fills under client writes${skipped}`, {timeout: 60_000}, () => {
  let acked: number[] = []

  it('Given 3 MiB of room, When clients write until it is gone, Then each refused write is a 503 naming the full data dir and what to do, the node keeps serving, and one warning is logged', async () => {
    disk!.fill(3 * 1024 * 1024)
    const run = await writeUntilFull(5)
    acked = run.acked
    expect(acked.length).toBeGreaterThan(0)
    expect(run.refused).toHaveLength(5)
    for (const r of run.refused) {
      expect(r.status).toBe(503)
      expect(r.json).toMatchObject({code: 'QUORUM_FAILED', failed: [{node: 'n1', code: 'NOT_SERVING'}]})
      const message = (r.json!.failed as {message: string}[])[0]!.message
      expect(message).toBe(`node n1: out of disk space in data dir ${disk!.dataDir}: the write was not stored; free space on that disk (deletes and drops need room too); writes resume by themselves once there is room`)
    }
    // The writer thread did not die: the node serves, and reads every acknowledged write.
    expect(dp.nodes.n1!.gone()).toBe(false)
    expect(await healthz()).toMatchObject({serving: true})
    expect(await unreadable(acked)).toEqual([])
    // One warning for the disk filling, no stack per refused write.
    const logs = dp.nodeLogs()
    expect(logs.match(/storage full: out of disk space in data dir/g)).toHaveLength(1)
    expect(logs).not.toContain('SqliteError')
    expect(logs).not.toContain('"msg":"request failed"')
  })

  it('Given the full disk, When the node is SIGKILLed and restarted on it, Then it serves again and every acknowledged write is readable', async () => {
    await dp.nodes.n1!.kill()
    await dp.startNode('n1')
    await waitFor(async () => ((await kv(router.address, 'GET', `k${acked[0]}`)).status === 200 ? true : undefined), 'the router reading from the restarted node')
    expect(await unreadable(acked)).toEqual([])
  })

  it('Given the full disk, When the node is stopped with SIGTERM, Then it exits 0, restarts on the full disk, and every acknowledged write is readable', async () => {
    const node = dp.nodes.n1!
    node.signal('SIGTERM')
    const code = await node.exited
    expect(code).toBe(0)
    await dp.startNode('n1')
    await waitFor(async () => ((await kv(router.address, 'GET', `k${acked[0]}`)).status === 200 ? true : undefined), 'the router reading from the restarted node')
    expect(await unreadable(acked)).toEqual([])
  })

  it('Given the full disk, When space is freed, Then writes commit again by themselves (one info line says so) and every acknowledged write is still readable', async () => {
    // The restarted node has not met the full disk yet: make it, so the recovery below is one it logs.
    const refused = await kv(router.address, 'PUT', 'after-restart', valueOf(0))
    expect(refused.status).toBe(503)
    disk!.release()
    const r = await kv(router.address, 'PUT', 'after-release', 'room again')
    expect(r.status).toBe(204)
    expect((await kv(router.address, 'GET', 'after-release')).body.toString()).toBe('room again')
    expect(await unreadable(acked)).toEqual([])
    expect(dp.nodes.n1!.logs()).toContain('storage has room again: writes commit')
    expect(dp.nodes.n1!.gone()).toBe(false)
  })
})
