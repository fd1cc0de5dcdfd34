import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {isUserError} from '../../../src/errors/errors.js'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {listMoves} from '../../../src/executor/moveStore.js'
import {isTerminal} from '../../../src/model/move.js'
import {type Plan, type PlanAction, sealPlan} from '../../../src/model/plan.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {runCli} from '../../support/runCli.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {fakeClock, fakeClockApply, markNodesAlive} from '../../executor/fixtures.js'

/**
 * Two plans filling the same new node, one after the other, on real etcd (node effects are
 * fakes: the map, the lock, the fencing and the move records are etcd's). Plan A moves two
 * shards to n3 and is stopped after the first (the second stays recorded `pending`). Plan B,
 * made from the map as A left it, moves a third shard to n3. Before the fix B's preflight
 * passed (A's pending move is on another shard) and B ran; `apply --resume` then ran A's
 * second move too, and n3 held three shards where each plan had placed two: B's prediction
 * broken, the node overfilled. Now `apply` and `plan verify` refuse B (CONFLICT, exit 7)
 * naming A's move and the way out, and nothing changes.
 */
const stores = new StoreSet()
let ctx: ServiceContext
let cluster: string
let endpoint: string
let cwd: string

beforeAll(async () => {
  endpoint = inject('etcdEndpoint')
  cluster = uniqueCluster('plan-conflicts')
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103'), force: false})
  await markNodesAlive(ctx, ['n1', 'n2', 'n3'])
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-conflicts-'))
})

afterAll(async () => {
  await stores.closeAll()
  rmSync(cwd, {recursive: true, force: true})
})

function apply(plan: Plan | undefined, opts: {onEvent?: (ev: ExecutorEvent, stop: AbortController) => void} = {}) {
  const stop = new AbortController()
  return fakeClockApply(ctx, fakeClock(Date.now()), {plan, limits: {maxConcurrent: 1, perNode: 1}, emit: (ev) => opts.onEvent?.(ev, stop), signal: stop.signal})
}

const holders = async () => new Map((await listShards(ctx)).shards.map((s) => [s.value.id, s.value.replicas.map((r) => r.node).join(',')]))

describe('a plan applied while another plan\'s moves are unfinished', () => {
  it('Given plan A stopped with a move to n3 still pending, When plan B (made after) also moves a shard to n3, Then `plan verify` and `apply` refuse B with exit 7 naming A\'s move and the way out, and nothing changes', async () => {
    const shards = (await listShards(ctx)).shards.map((s) => s.value)
    const off = shards.filter((s) => s.replicas[0]!.node !== 'n3')
    expect(off.length).toBeGreaterThanOrEqual(3)
    const template = planRebalance(await readSnapshot(ctx), {}, {id: 't', createdAt: new Date().toISOString()})
    const move = (s: (typeof shards)[number]) => ({kind: 'move', shard: s.id, epoch: s.epoch, from: s.replicas[0]!.node, to: 'n3', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'fill n3'}, predicted: {source: 1, target: 1}}) as PlanAction
    const [x, y, z] = off as [(typeof shards)[number], (typeof shards)[number], (typeof shards)[number]]
    const planA = sealPlan({...template, id: 'plan-a', actions: [move(x), move(y)]})
    // A is stopped (Ctrl-C) once its first move is done: the second stays recorded, pending.
    const stoppedA = await apply(planA, {onEvent: (ev, stop) => ev.type === 'phase' && ev.phase === 'done' && stop.abort()})
    expect(stoppedA.moves.map((m) => `${m.shard}:${m.phase}`)).toEqual([`${x.id}:done`, `${y.id}:pending`])
    const now = (await listShards(ctx)).shards.map((s) => s.value)
    const planB = sealPlan({...template, id: 'plan-b', createdFrom: {...template.createdFrom}, actions: [move(now.find((s) => s.id === z.id)!)]})
    writeFileSync(join(cwd, 'b.json'), JSON.stringify(planB))
    const before = await holders()

    const verify = await runCli(['plan', 'verify', 'b.json', '--endpoints', endpoint, '--cluster', cluster], {cwd})
    expect(verify.code, verify.stderr).toBe(7)
    const line = verify.stderr.split('\n').find((l) => l.startsWith('Error:'))
    expect(line).toContain('plan-a-0001')
    expect(line).toContain('node n3')
    expect(verify.stderr).toContain('apply --resume')

    const refused = await apply(planB).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(isUserError(refused, 'CONFLICT')).toBe(true)
    expect((refused as Error).message).toContain('move plan-a-0001')
    expect(await holders()).toEqual(before)
    expect((await listMoves(ctx)).filter((m) => m.value.plan === 'plan-b')).toEqual([])

    // The way out: A's moves finish, and a fresh plan no longer conflicts.
    const resumed = await apply(undefined)
    expect(resumed.moves.map((m) => `${m.shard}:${m.phase}`)).toEqual([`${y.id}:done`])
    expect((await listMoves(ctx)).filter((m) => !isTerminal(m.value.phase))).toEqual([])
  })
})
