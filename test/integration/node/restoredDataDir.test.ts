import {cpSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import Database from 'better-sqlite3'
import {NodeMarkSchema} from '../../../src/model/node.js'
import {DB_FILE} from '../../../src/node/lwwSql.js'
import {exitedWithin} from '../../support/daemonProbe.js'
import {DataPlane, keyFor, kv, waitFor} from '../router/dataPlane.js'
import {type NodeProcess, spawnNodeProcess, startNodeProcess} from './nodeProcess.js'

/**
 * A copy of a node's own data dir from before its later writes (a restored backup, a VM or
 * volume snapshot rolled back, a disk that lost writes it reported durable) carries the
 * node's dir id, so the dir check took it, and the node served its replicas without the
 * writes it made since: at rf 1 an acknowledged write read back absent. The node publishes a
 * write mark its dir holds first (marks/<id>) and refuses a dir below it while it holds
 * replicas. Crashes at any moment must not make an intact dir look behind.
 */

let dp: DataPlane
const extraDirs: string[] = []
const children: NodeProcess[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'shardctl-restored-'))
  extraDirs.push(d)
  return d
}
const published = async () => (await dp.ctx.store.getTyped(dp.ctx.keys.mark('n1'), NodeMarkSchema))?.value
const aliveGone = () => waitFor(async () => ((await dp.ctx.store.get(dp.ctx.keys.alive('n1'))) ? undefined : true), 'alive/n1 to lapse', 20_000)
const markAbove = (mark: number) => waitFor(async () => ((await published())?.mark ?? 0) > mark || undefined, `marks/n1 above ${mark}`, 20_000)
/** dirMark reads a stopped node's dir's own write mark (meta writeMark; 0: never raised). */
const dirMark = (dir: string) => {
  const db = new Database(join(dir, DB_FILE), {readonly: true})
  try {
    return Number((db.prepare("SELECT value FROM meta WHERE name = 'writeMark'").get() as {value: string} | undefined)?.value ?? 0)
  } finally {
    db.close()
  }
}
/**
 * copyOfN1 writes `key` to n1's shard through a new router `routerId`, waits for a published
 * mark, SIGKILLs n1 and copies its dir (a snapshot of a crashed machine is what it holds):
 * the backup a test later restores.
 */
async function copyOfN1(routerId: string, key: string) {
  const shard = (await dp.shards()).find((s) => s.replicas[0]!.node === 'n1')!
  const router = await dp.startRouter(routerId)
  expect((await kv(router.address, 'PUT', keyFor(shard, key), 'in the copy')).status).toBe(204)
  await markAbove(0)
  await dp.nodes.n1!.kill()
  await aliveGone()
  const copy = join(tmp(), 'copy')
  cpSync(dp.dataDirs.n1!, copy, {recursive: true})
  return {shard, router, copy}
}
const etcdState = async () => Promise.all(['node', 'claim', 'mark', 'alive'].map(async (k) => (await dp.ctx.store.get((dp.ctx.keys[k as 'node' | 'claim' | 'mark' | 'alive'] as (id: string) => string)('n1')))?.value))

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'restored')
  // rf 1: n1's shard has no other copy, so a write the restored dir lacks is simply gone.
  await dp.init(2, 8, 1)
}, 120_000)

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()))
  await dp?.teardown()
  for (const d of extraDirs) rmSync(d, {recursive: true, force: true})
})

describe("a node started on a copy of its own data dir from before its later writes", () => {
  it('is refused (exit 2, one line naming both marks and the fix), changes nothing, and --accept-empty-data serves it with a warning', async () => {
    const {shard, router, copy: backup} = await copyOfN1('r1', 'before')
    // Read once n1 is gone: any mark above it was published by the process that served after the backup.
    const backedUp = (await published())!.mark

    // n1 serves again and acknowledges a write the backup lacks; its mark is published past the backup's.
    await dp.startNode('n1')
    const lateKey = keyFor(shard, 'after')
    expect((await kv(router.address, 'PUT', lateKey, 'acknowledged after the backup')).status).toBe(204)
    // A publish begun after the write was acknowledged (the one at start-up may have come before it).
    await markAbove((await published())?.mark ?? backedUp)
    await dp.nodes.n1!.kill()
    await aliveGone()

    // The operator restores the backup.
    rmSync(dp.dataDirs.n1!, {recursive: true, force: true})
    cpSync(backup, dp.dataDirs.n1!, {recursive: true})
    const before = await etcdState()
    const highest = (await published())!.mark
    expect(dirMark(dp.dataDirs.n1!)).toBeLessThan(highest)
    const restored = spawnNodeProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'n1', port: dp.ports.n1!, dataDir: dp.dataDirs.n1!})
    children.push(restored)
    const outcome = await exitedWithin(restored, 30_000)
    if (outcome === 'still running') {
      const got = await kv(router.address, 'GET', lateKey)
      expect.fail(`n1 served a restored backup of its dir while it holds a replica; the write acknowledged after the backup then read ${got.status}`)
    }
    const errors = restored.logs().split('\n').filter((l) => l.startsWith('Error:'))
    expect({outcome, errors}, restored.logs()).toEqual({outcome: 2, errors: [expect.stringContaining(dp.dataDirs.n1!)]})
    expect(errors[0]).toMatch(/is older than what node n1 already served from it \(its write mark is \d+ and node n1 published \d+ for it at /)
    expect(errors[0]).toMatch(/holds replicas of \d+ shards?/)
    expect(errors[0]).toMatch(/shardctl node drain n1/)
    expect(await etcdState()).toEqual(before)

    // The override: it serves, warns, and raises its mark above the published one (never sets that down: see the next test), so it starts again without the flag.
    const accepted = await startNodeProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'n1', port: dp.ports.n1!, dataDir: dp.dataDirs.n1!, extra: ['--accept-empty-data']})
    children.push(accepted)
    expect(accepted.logs()).toMatch(/which is older than what the node served .*--accept-empty-data/)
    expect((await kv(router.address, 'GET', keyFor(shard, 'before'))).status).toBe(200)
    // Its start-up publish raised the restored dir's own mark past the highest published one, never set it down (an older copy would then pass).
    await markAbove(highest)
    await accepted.kill()
    await aliveGone()
    const again = await startNodeProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'n1', port: dp.ports.n1!, dataDir: dp.dataDirs.n1!})
    children.push(again)
    await again.kill()
    await aliveGone()
    await dp.startNode('n1')
  }, 240_000)

  it('the dir left behind after a restored copy served (--accept-empty-data) is refused in turn: the copy\'s mark is raised past the published one, not set down', async () => {
    const {shard, router, copy} = await copyOfN1('r3', 'fork-before')
    const original = dp.dataDirs.n1!

    // The original dir serves on: several intervals of writes, so its own mark climbs well past the copy's.
    await dp.startNode('n1')
    for (let i = 0; i < 4; i++) {
      const mark = (await published())!.mark
      expect((await kv(router.address, 'PUT', keyFor(shard, `fork-original-${i}`), 'v')).status).toBe(204)
      await markAbove(mark)
    }
    await dp.nodes.n1!.kill()
    await aliveGone()
    const highest = (await published())!.mark

    // The copy is served instead (the operator overrides the refusal) and acknowledges a write the original lacks.
    const onCopy = await startNodeProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'n1', port: dp.ports.n1!, dataDir: copy, extra: ['--accept-empty-data']})
    children.push(onCopy)
    const forced = await waitFor(async () => {
      const m = await published()
      return m && m.mark !== highest ? m.mark : undefined
    }, 'the copy\'s forced publish', 20_000)
    const forkKey = keyFor(shard, 'fork-acknowledged-on-the-copy')
    expect((await kv(router.address, 'PUT', forkKey, 'only in the copy')).status).toBe(204)
    await markAbove(forced)
    await onCopy.kill()
    await aliveGone()

    // Back to the original dir, without the flag: it lacks the write the copy acknowledged.
    const back = spawnNodeProcess({endpoint: dp.endpoint, cluster: dp.cluster, id: 'n1', port: dp.ports.n1!, dataDir: original})
    children.push(back)
    const outcome = await exitedWithin(back, 30_000)
    if (outcome === 'still running') {
      const got = await kv(router.address, 'GET', forkKey)
      await back.kill()
      await aliveGone()
      expect.fail(`n1 served its earlier dir again after a copy of it had served (published mark ${(await published())?.mark}, the earlier dir's ${highest} or more); the write the copy acknowledged then read ${got.status}`)
    }
    expect(outcome, back.logs()).toBe(2)
    expect(back.logs()).toMatch(/is older than what node n1 already served from it/)
    // The copy is n1's dir now; it starts without the flag.
    rmSync(original, {recursive: true, force: true})
    cpSync(copy, original, {recursive: true})
    await dp.startNode('n1')
    expect((await kv(router.address, 'GET', forkKey)).status).toBe(200)
  }, 240_000)

  it('an intact dir killed at any moment under writes is never taken for a restored one', async () => {
    const shard = (await dp.shards()).find((s) => s.replicas[0]!.node === 'n1')!
    // On its own, whatever the test before left running.
    await Promise.all(children.map((c) => c.kill()))
    await dp.nodes.n1!.kill()
    await aliveGone()
    await dp.startNode('n1')
    const router = await dp.startRouter('r2')
    // Bounded: 4 kills, each after a few hundred writes at most or 3 s.
    for (let round = 0; round < 4; round++) {
      const until = Date.now() + 500 + round * 400
      let i = 0
      while (Date.now() < until && i < 400) {
        const res = await kv(router.address, 'PUT', keyFor(shard, `crash-${round}-${i++}`), 'v')
        if (res.status !== 204) break
      }
      await dp.nodes.n1!.kill()
      await aliveGone()
      // startNode rejects (with the node's stderr) when the node exits instead of serving.
      await dp.startNode('n1')
    }
  }, 240_000)
})
