import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {clusterStatus} from '../../../src/cluster/clusterStatus.js'
import {shortNodeId} from '../../../src/redis/clusterNodes.js'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {initRedisCluster} from '../../../src/redis/initRedisCluster.js'
import {type RedisTrouble} from '../../../src/redis/redisTrouble.js'
import {FAST_FAILURE_DETECTION, redisAvailable, servedSlots} from '../../support/redisCluster.js'
import {failoverSeenBy, nodesSeenBy, openSlotByHand, poll, slotServedBy, writeTagged} from '../../support/redisFailover.js'
import {useRedisCluster} from '../../support/redisTestFile.js'
import {runCli} from '../../support/runCli.js'

/**
 * `cluster status` on a real 3+3 Redis Cluster recorded with `--engine redis`, after what an
 * operator most needs it for: a slot left open by hand (what redis-cli or a killed executor
 * leaves), then the source of that slot SIGKILLed and failed over by Redis, then the master
 * that took over killed too (no replica left: its slots are served by nobody). Each step checks
 * the `redis` field of --json (through the service) and the human section of the real CLI,
 * whose lines name the way out; following them (`redis fix`, `cluster init --force`) leaves
 * only the master that took over, alone without a replica. The tests run in order on one cluster.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-status', available, {slotsPerShard: 128, serverArgs: FAST_FAILURE_DETECTION})
let cwd: string
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-redis-status-'))
})
afterAll(() => {
  if (cwd) rmSync(cwd, {recursive: true, force: true})
})

const cli = (args: string[]) => runCli([...args, '--endpoints', inject('etcdEndpoint'), '--cluster', file.ctx.cluster], {cwd, timeoutMs: 60_000})

async function trouble(): Promise<RedisTrouble> {
  const status = await clusterStatus(file.ctx)
  if (!status.redis) throw new Error('cluster status of a redis cluster has no redis field')
  return status.redis
}

/** liveAddresses are the addresses of the file's servers not killed yet. */
function liveAddresses(): string[] {
  return file.redis.servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null).map((s) => s.address)
}

function kill(address: string): void {
  const s = file.redis.servers.find((x) => x.address === address)
  if (!s) throw new Error(`no server at ${address}`)
  s.child.kill('SIGKILL')
}

/** successorServing waits until a live master other than `dead` and `except` serves `slot` by its own view, and returns its address. */
async function successorServing(slot: number, dead: string, except: string): Promise<string> {
  return poll(`a new master serving slot ${slot}`, async () => {
    for (const address of liveAddresses()) {
      if (address === dead || address === except) continue
      const me = (await nodesSeenBy(address)).find((n) => n.flags.includes('myself'))
      if (me?.flags.includes('master') && me.slots.includes(slot)) return address
    }
    return undefined
  })
}

describe.skipIf(!available)('cluster status on a redis cluster in trouble', () => {
  let slot = -1
  let successor = ''

  it('shows no trouble on a healthy cluster, and a slot left open with `redis fix` as its way out', async () => {
    expect(await trouble()).toMatchObject({mastersAnswering: 3, openSlots: [], failedMasters: [], unservedSlots: [], contestedSlots: [], recordMismatches: [], unreplicatedMasters: [], trouble: false})
    const clean = await cli(['cluster', 'status'])
    expect(clean.code).toBe(0)
    expect(clean.stdout).not.toContain('trouble')

    const [src, dst] = [file.masters[0]!, file.masters[1]!]
    const served = await slotServedBy(src)
    slot = served.slot
    await writeTagged(file.client, served.tag, 50, 'v')
    await openSlotByHand(src, dst, slot, 20, {awaitReplicas: true})

    const t = await trouble()
    expect(t.openSlots).toEqual([{slots: {from: slot, to: slot}, source: src.node, target: dst.node, sourceState: 'live', targetState: 'live', inFlight: false, wayOut: expect.stringContaining(`shardctl redis fix --seed ${file.redis.seed} --yes`)}])
    expect(t).toMatchObject({failedMasters: [], unservedSlots: [], recordMismatches: [], trouble: true})
    const shown = await cli(['cluster', 'status'])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toContain(`Redis cluster trouble (ways out name ${file.redis.seed}, a live master):`)
    expect(shown.stdout).toContain(`slot ${slot} left open ${src.node} -> ${dst.node}. Way out: \`shardctl redis fix --seed ${file.redis.seed} --yes\``)
    const json = JSON.parse((await cli(['cluster', 'status', '--json'])).stdout) as {redis: RedisTrouble}
    expect(json.redis.openSlots[0]).toMatchObject({slots: {from: slot, to: slot}, source: src.node, target: dst.node})
  }, 120_000)

  it('after the source of the open slot failed over: the open slot, the failed master and who took it, the records to redo; following the ways out leaves the master that took over alone, without a replica', async () => {
    const [src, dst] = [file.masters[0]!, file.masters[1]!]
    kill(src.address)
    successor = await successorServing(slot, src.address, dst.address)
    await failoverSeenBy(liveAddresses(), src.redisId, successor)
    const successorId = shortNodeId((await nodesSeenBy(successor)).find((n) => n.flags.includes('myself'))!.id)

    const t = await trouble()
    const seed = t.seed!
    expect(liveAddresses()).toContain(seed)
    expect(t.openSlots).toEqual([expect.objectContaining({slots: {from: slot, to: slot}, source: src.node, target: dst.node, sourceState: 'fail', targetState: 'live', wayOut: `\`shardctl redis fix --seed ${seed} --yes\` (it finishes the slot towards the side holding the migrated keys), then \`shardctl cluster init --engine redis --seed ${seed} --force\``})])
    expect(t.failedMasters).toEqual([expect.objectContaining({node: src.node, state: 'fail', slots: 0, takenBy: [successorId], recorded: true, settled: false})])
    expect(t.unservedSlots).toEqual([])
    expect(t.recordMismatches).toEqual([expect.objectContaining({recordedOn: src.node, servedBy: [successorId], inFlight: false, wayOut: expect.stringContaining('--force')})])
    const shown = await cli(['cluster', 'status'])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toContain(`master ${src.node} at ${src.address} is failed (fail)`)
    expect(shown.stdout).toContain(`its recorded slots now on ${successorId}`)
    expect(shown.stdout).toContain(`but those slots are served by ${successorId}`)

    // Following the ways out: redis fix, then re-record. The dead master stays listed by Redis, settled.
    expect((await fixOpenSlots(seed, false)).slots).toEqual([expect.objectContaining({slot, action: 'finish'})])
    await initRedisCluster(file.ctx, {seed, slotsPerShard: 128, force: true})
    const after = await trouble()
    expect(after).toMatchObject({openSlots: [], unservedSlots: [], contestedSlots: [], recordMismatches: []})
    expect(after.failedMasters).toEqual([expect.objectContaining({node: src.node, settled: true})])
    // What is left: the replica that took over has no replica of its own (its old master was it). One more failure and its slots are down.
    const successorFull = (await nodesSeenBy(successor)).find((n) => n.flags.includes('myself'))!.id
    expect(after.unreplicatedMasters).toEqual([expect.objectContaining({node: successorId, address: successor, failedReplicas: [], wayOut: expect.stringContaining(`redis-cli --cluster add-node NEW_HOST:PORT ${successor} --cluster-slave --cluster-master-id ${successorFull}`)})])
    expect(after.unreplicatedMasters[0]!.wayOut).toContain(`restart the master it took over from (failed: ${src.node} at ${src.address})`)
    expect(after.trouble).toBe(true)
    const left = await cli(['cluster', 'status'])
    expect(left.code).toBe(0)
    expect(left.stdout).toMatch(new RegExp(`master ${successorId} at ${successor} serves \\d+ slots with no live replica\\. Way out: restart the master it took over from`))
    expect(left.stdout).not.toContain('left open')
  }, 180_000)

  it('after the master that took over dies too (no replica left): its slots are served by no live master', async () => {
    const successorId = (await nodesSeenBy(successor)).find((n) => n.flags.includes('myself'))!.id
    const slots = (await servedSlots({node: shortNodeId(successorId), redisId: successorId, address: successor})).size
    kill(successor)
    const others = liveAddresses().filter((a) => file.masters.some((m) => m.address === a))
    await poll(`the masters to flag ${successor} as failed`, async () => {
      for (const a of others) if (!(await nodesSeenBy(a)).find((n) => n.id === successorId)?.flags.includes('fail')) return undefined
      return true
    })
    const t = await trouble()
    expect(t.failedMasters).toContainEqual(expect.objectContaining({node: shortNodeId(successorId), state: 'fail', slots, recorded: true, wayOut: expect.stringContaining(`restart redis-server at ${successor}`)}))
    expect(t.unservedSlots.reduce((n, u) => n + u.slots.to - u.slots.from + 1, 0)).toBe(slots)
    expect(t.unservedSlots.every((u) => u.lastOwner === shortNodeId(successorId))).toBe(true)
    expect(t.trouble).toBe(true)
    const shown = await cli(['cluster', 'status'])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(new RegExp(`slots \\d+-\\d+ \\(\\d+\\) served by no live master \\(still given to ${shortNodeId(successorId)}\\)\\. Way out: bring ${shortNodeId(successorId)} back`))
  }, 120_000)
})
