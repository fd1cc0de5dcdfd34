import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {getNode} from '../../../src/cluster/clusterRepo.js'
import {type Move, MoveSchema} from '../../../src/model/move.js'
import {assertDistFresh, type CliChild, spawnCli} from '../../support/cliChild.js'
import {exitedWithin} from '../../support/daemonProbe.js'
import {runCli} from '../../support/runCli.js'
import {DataPlane, kv, waitFor} from '../router/dataPlane.js'

/**
 * An autopilot SIGTERMed while its executor's step waits on a node that does not answer (here
 * the drop of leftovers a move makes on its destination before it joins, which is frozen but
 * still alive in etcd: a request of up to 120 s) gives up waiting for the step after its stop
 * bound and exits. It used to leave
 * the executor lock to expire with its lease (up to 10 s after the exit), so an operator's
 * `apply --resume` right after was refused with LOCK_HELD (exit 8); it now releases the locks it
 * holds on its way out (etcd is healthy), and the resume takes the lock at once.
 */

let dp: DataPlane
let plansDir: string
let autopilot: CliChild | undefined
let router: string
const frozen: number[] = []

const moves = async (): Promise<Move[]> => (await dp.ctx.store.listTyped(dp.ctx.keys.movesPrefix, MoveSchema)).items.map((i) => i.value)

beforeAll(async () => {
  assertDistFresh(['commands/autopilot/index', 'src/autopilot/autopilotLoop', 'src/etcd/heldLocks'])
  plansDir = mkdtempSync(join(tmpdir(), 'shardctl-apstoplock-plans-'))
  dp = new DataPlane(inject('etcdEndpoint'), 'apstoplock')
  // A frozen node stays alive in etcd meanwhile: the executor keeps waiting on it instead of seeing it down.
  dp.nodeLeaseTtl = '60s'
  await dp.init(3, 1, 2)
  router = (await dp.startRouter('r1')).address
  for (let i = 0; i < 20; i++) expect((await kv(router, 'PUT', `k-${i}`, 'v')).status).toBe(204)
}, 120_000)

afterAll(async () => {
  for (const pid of frozen) {
    try {
      process.kill(pid, 'SIGCONT')
    } catch {
      // gone
    }
  }
  await autopilot?.kill()
  await dp?.teardown()
  if (plansDir) rmSync(plansDir, {recursive: true, force: true})
})

describe('autopilot stop while its executor waits on a frozen node', () => {
  it('Given a move off a draining node waiting on its frozen destination, When the autopilot gets SIGTERM, Then it exits 0 with the executor lock released, and `apply --resume` takes it at once', {timeout: 150_000}, async () => {
    // One shard on two of three nodes: emptying one of them moves its replica to the third, frozen first.
    const [shard] = await dp.shards()
    const victim = shard!.replicas[0]!.node
    const dst = dp.nodes[Object.keys(dp.nodes).find((id) => !shard!.replicas.some((r) => r.node === id))!]!
    process.kill(dst.pid, 'SIGSTOP')
    frozen.push(dst.pid)
    const cli = (args: string[]) => runCli([...args, '--endpoints', dp.endpoint, '--cluster', dp.cluster], {cwd: plansDir, timeoutMs: 60_000})
    try {
      // Marked draining as `node drain` or the autopilot's own heal marks it: the autopilot empties it.
      const node = await getNode(dp.ctx, victim)
      await dp.ctx.store.update(dp.ctx.keys.node(victim), JSON.stringify({...node.value, state: 'draining'}), node.modRevision)
      autopilot = spawnCli(['autopilot', '--id', 'a1', '--endpoints', dp.endpoint, '--cluster', dp.cluster, '--interval', '1s', '--lease-ttl', '3s', '--plans-dir', plansDir, '--rebalance-above', '50'])
      // `checked` is persisted before its side effect: from here on the executor waits on the frozen node's answer to its drop.
      await waitFor(async () => (await moves()).find((m) => m.phase === 'checked'), 'the move to be checked', 60_000)
      await new Promise((r) => setTimeout(r, 500))
      autopilot.signal('SIGTERM')
      expect(await exitedWithin(autopilot, 30_000)).toBe(0)
      expect(autopilot.logs()).toMatch(/stopping without waiting longer/)
      const lock = await dp.ctx.store.get(dp.ctx.keys.executorLock)
      if (lock) console.log(autopilot.logs().slice(-3000))
      expect(lock?.value).toBeUndefined()
    } finally {
      process.kill(dst.pid, 'SIGCONT')
    }
    const resume = await cli(['apply', '--resume', '--yes'])
    if (resume.code !== 0) console.log(resume.stdout.slice(-2000), resume.stderr.slice(-2000))
    expect(resume.code).toBe(0)
    expect((await moves()).map((m) => m.phase)).toEqual(['done'])
    // Nothing acknowledged before the stop is lost by the step it left mid-way.
    const read = await Promise.all(Array.from({length: 20}, async (_, i) => `${(await kv(router, 'GET', `k-${i}`)).status}`))
    expect(read).toEqual(Array.from({length: 20}, () => '200'))
  })
})
