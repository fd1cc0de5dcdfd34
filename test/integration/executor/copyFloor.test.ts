import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {setNodeState} from '../../../src/cluster/nodeService.js'
import {type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {setThrottle} from '../../../src/executor/controlService.js'
import {executePlan} from '../../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {MIN_RATE_BYTES_PER_SEC} from '../../../src/model/units.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {ExecutorsOfTest} from '../../support/executorAbort.js'
import {type NodeProcess, startNodeProcess} from '../node/nodeProcess.js'
import {fillShards} from '../node/shardRecords.js'
import {registerCluster, type RegisteredCluster} from '../node/twoNodeCluster.js'

/**
 * Real etcd and real nodes: four moves into one node under a cluster throttle of 48KiB/s, cut
 * to 16KiB/s while they copy (`throttle set`). Until session 32 the rate was split over every
 * running move (12, then 4 KiB/s each: a 16 KiB frame every 4 s, and at 30 moves every 30 s, the
 * destination's idle timeout). Watched at the destination: every pull runs at 16KiB/s or more,
 * no more run at once than the rate carries, and every move finishes (none aborts).
 */
let cluster: RegisteredCluster
const procs: NodeProcess[] = []
const clients = new Map<string, NodeClient>()
const NODE_IDS = ['n1', 'n2', 'n3']
const KEYS_PER_SHARD = 400
const KiB = 1024
let dir: string
let ctx: ServiceContext
let token: string
let ports: Record<string, number> = {}

function client(id: string): NodeClient {
  let c = clients.get(id)
  if (!c) clients.set(id, (c = new NodeClient({node: id, address: `127.0.0.1:${ports[id]}`, token, timeoutMs: 10_000})))
  return c
}

beforeAll(async () => {
  cluster = await registerCluster(inject('etcdEndpoint'), 'copyfloor', {shards: 6, rf: 1, nodes: NODE_IDS})
  ctx = cluster.ctx
  ports = cluster.ports
  dir = mkdtempSync(join(tmpdir(), 'shardctl-copyfloor-'))
  for (const id of NODE_IDS) procs.push(await startNodeProcess({...cluster.connection, id, port: ports[id]!, dataDir: join(dir, id)}))
  token = await loadClusterToken(ctx, {create: false})
  await fillShards(ctx, client, KEYS_PER_SHARD)
}, 120_000)

afterAll(async () => {
  for (const c of clients.values()) await c.destroy()
  await Promise.all(procs.map((p) => p.kill()))
  cluster?.close()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

const executors = new ExecutorsOfTest()

describe('copies under a cluster throttle too low for all of them, on real nodes', () => {
  it('given 48KiB/s cut to 16KiB/s while four moves copy into one node, then every pull runs at 16KiB/s or more, at most rate/16KiB/s at once, and every move finishes', async () => {
    await setNodeState(ctx, 'n1', 'draining')
    await setNodeState(ctx, 'n2', 'draining')
    const plan = planRebalance(await readSnapshot(ctx), {drainOnly: true}, {id: 'copyfloor', createdAt: new Date().toISOString()})
    const moving = plan.actions.flatMap((a) => (a.kind === 'move' ? [a.shard] : []))
    expect(moving.length).toBeGreaterThanOrEqual(3)
    const events: ExecutorEvent[] = []
    // Watch the destination: the rate of every running pull, and how many run at once.
    const seen = {rates: [] as number[], mostAtOnce: 0, mostAfterCut: 0, cut: false}
    let watching = true
    const watch = (async () => {
      while (watching) {
        const running = (await Promise.all(moving.map((s) => client('n3').pullStatus(s).catch(() => undefined)))).filter((st) => st?.state === 'running')
        for (const st of running) if (st!.rate !== null) seen.rates.push(st!.rate)
        seen.mostAtOnce = Math.max(seen.mostAtOnce, running.length)
        if (seen.cut) seen.mostAfterCut = Math.max(seen.mostAfterCut, running.length)
        if (!seen.cut && running.length >= 3) {
          await setThrottle(ctx, 16 * KiB)
          // The executor follows the control record within a second, and a held copy's pull is cancelled within one more poll.
          await sleepFor(2000)
          seen.cut = true
        }
        await sleepFor(100)
      }
    })()
    const result = await executors.start((stop) =>
      executePlan(
        ctx,
        {plan, limits: {maxConcurrent: 30, perNode: 30, incomingPerNode: 30}, throttle: 48 * KiB, nodeThrottle: null, options: {...DEFAULT_EXECUTOR_OPTIONS, drainTimeoutMs: 2000, barrierTimeoutMs: 15_000}, confirm: async () => true, holder: 'test'},
        {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit: (e) => events.push(e)},
        stop,
      ),
    )
    watching = false
    await watch

    expect(result.counts).toEqual({done: moving.length})
    expect(seen.rates.length).toBeGreaterThan(0)
    expect(Math.min(...seen.rates)).toBeGreaterThanOrEqual(MIN_RATE_BYTES_PER_SEC)
    expect(seen.mostAtOnce).toBeLessThanOrEqual(3)
    expect(seen.cut).toBe(true)
    expect(seen.mostAfterCut).toBeLessThanOrEqual(1)
    expect(events.some((e) => e.type === 'info' && /held by the throttle: the cluster rate 16\.0 KiB\/s carries 1 copy/.test(e.message))).toBe(true)
  }, 180_000)
})
