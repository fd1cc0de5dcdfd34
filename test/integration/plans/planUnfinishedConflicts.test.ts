import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {setNodeState} from '../../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {type Plan, type PlanAction, sealPlan} from '../../../src/model/plan.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {runCli} from '../../support/runCli.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {fakeClock, fakeClockApply, markNodesAlive} from '../../executor/fixtures.js'

/**
 * `shardctl plan` against a cluster where another plan's moves are unfinished, on real etcd
 * (the node effects of plan A's apply are fakes: the map, the lock and the move records are
 * etcd's). Plan A moves two shards n2 -> n3 and is stopped after the first: the second stays
 * recorded `pending`. Then n1 is marked draining, and `shardctl plan` plans B, which moves
 * n1's shards to n2 and n3, the nodes A's pending move changes: `apply` and `plan verify`
 * refuse B (exit 7). Before this test's change `plan` printed B without a word and
 * `plan --check` exited 10 ("review and apply the plan"), so a CI gate passed on a plan
 * `apply` refuses. Now every output names A's move and the way out, and --check exits 7.
 */
const stores = new StoreSet()
let ctx: ServiceContext
let cluster: string
let etcd: string[]
let cwd: string
let pendingShard: number

function apply(plan: Plan, onEvent: (ev: ExecutorEvent, stop: AbortController) => void) {
  const stop = new AbortController()
  return fakeClockApply(ctx, fakeClock(Date.now()), {plan, limits: {maxConcurrent: 1, perNode: 1}, emit: (ev) => onEvent(ev, stop), signal: stop.signal})
}

const cli = (args: string[]) => runCli([...args, ...etcd], {cwd})

beforeAll(async () => {
  const endpoint = inject('etcdEndpoint')
  cluster = uniqueCluster('plan-unfinished')
  etcd = ['--endpoints', endpoint, '--cluster', cluster]
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-plan-unfinished-'))
  await initCluster(ctx, {shards: 6, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7201,n2=127.0.0.1:7202,n3=127.0.0.1:7203'), force: false})
  await markNodesAlive(ctx, ['n1', 'n2', 'n3'])

  // Plan A: two shards of n2 to n3, stopped (as by Ctrl-C) once the first is done.
  const shards = (await listShards(ctx)).shards.map((s) => s.value)
  const onN2 = shards.filter((s) => s.replicas[0]!.node === 'n2')
  expect(onN2.length).toBeGreaterThanOrEqual(2)
  const [x, y] = onN2 as [(typeof shards)[number], (typeof shards)[number]]
  const template = planRebalance(await readSnapshot(ctx), {}, {id: 't', createdAt: new Date().toISOString()})
  const toN3 = (s: (typeof shards)[number]) => ({kind: 'move', shard: s.id, epoch: s.epoch, from: 'n2', to: 'n3', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'fill n3'}, predicted: {source: 1, target: 1}}) as PlanAction
  const stopped = await apply(sealPlan({...template, id: 'plan-a', actions: [toN3(x), toN3(y)]}), (ev, stop) => ev.type === 'phase' && ev.phase === 'done' && stop.abort())
  expect(stopped.moves.map((m) => `${m.shard}:${m.phase}`)).toEqual([`${x.id}:done`, `${y.id}:pending`])
  pendingShard = y.id
  // B's reason to move: n1 is to be emptied, onto n2 and n3.
  await setNodeState(ctx, 'n1', 'draining')
})

afterAll(async () => {
  await stores.closeAll()
  rmSync(cwd, {recursive: true, force: true})
})

describe('shardctl plan while another plan\'s moves are unfinished', () => {
  it('Given plan A\'s move n2 -> n3 pending, When `plan --check` plans B draining n1 onto n2 and n3, Then it exits 7 with the line `plan verify` refuses B with, and the table names A\'s move and the way out', async () => {
    const r = await cli(['plan', '--check', '--out', 'b.json'])
    expect(r.code, r.stderr).toBe(7)
    const error = r.stderr.split('\n').filter((l) => l.startsWith('Error:'))
    expect(error).toHaveLength(1)
    expect(error[0]).toMatch(new RegExp(`^Error: plan ${cluster}-\\S+ conflicts with 1 unfinished move\\(s\\) of plan plan-a: its action \\d+ \\(shard \\d+ n1 -> n[23]\\) and move plan-a-0001 \\(shard ${pendingShard} n2 -> n3, pending\\) both change node n[23]`))
    expect(error[0]).toContain('shardctl apply --resume')
    expect(error[0]).toContain('shardctl moves cancel --plan plan-a')
    expect(r.stdout).toContain('status     needs-rebalance')
    expect(r.stdout).toContain('  conflicts  `apply` and `plan verify` will refuse this plan (exit 7)')
    expect(r.stdout).toContain(`and move plan-a-0001 (shard ${pendingShard} n2 -> n3, pending) both change node`)
    expect(r.stdout).toMatch(/\n {13}way out: finish those moves \(`shardctl apply --resume`\)/)

    // plan and apply's check cannot disagree: `plan verify` (apply's very check) refuses the written plan with the same line.
    const verify = await cli(['plan', 'verify', 'b.json'])
    expect(verify.code, verify.stderr).toBe(7)
    expect(verify.stderr.split('\n').find((l) => l.startsWith('Error:'))).toBe(error[0])
  })

  it('Given the same, When plan prints markdown (the PR comment), JSON (--format json) or --json, Then each names A\'s move; the plan is still written, exit 0, with one warning line on stderr', async () => {
    const md = await cli(['plan', '--format', 'markdown', '--out', 'md.json'])
    expect(md.code, md.stderr).toBe(0)
    expect(md.stdout).toMatch(/\*\*Rebalance needed: this plan reaches the target\*\* \(balance strategy, target 1\.1x the mean\)\n\n> \*\*`shardctl apply` will refuse this plan \(exit 7\)/)
    expect(md.stdout).toContain(`and move \`plan-a-0001\` (shard ${pendingShard} \`n2\` -> \`n3\`, pending) both change node`)
    const warnings = md.stderr.split('\n').filter((l) => l.startsWith('Warning:'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/^Warning: plan \S+ conflicts with 1 unfinished move\(s\) of plan plan-a: .*; `apply` will refuse it \(exit 7\) — finish those moves/)
    expect(md.stderr).toContain('plan written to md.json')

    // --format json stays the plan file byte for byte (it is piped into files apply reads); the warning goes to stderr.
    const json = await cli(['plan', '--format', 'json', '--out', 'j.json'])
    expect(json.code, json.stderr).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual(JSON.parse(readFileSync(join(cwd, 'j.json'), 'utf8')))
    expect(json.stderr).toMatch(/^Warning: plan \S+ conflicts with 1 unfinished move\(s\) of plan plan-a/m)

    const j = await cli(['plan', '--json', '--out', 'k.json'])
    expect(j.code, j.stderr).toBe(0)
    const run = JSON.parse(j.stdout) as {file: string; conflicts: {action: number; node: string; other: Record<string, unknown>}[]}
    expect(run.file).toBe('k.json')
    expect(run.conflicts.length).toBeGreaterThan(0)
    for (const c of run.conflicts) {
      expect(['n2', 'n3']).toContain(c.node)
      expect(c.other).toEqual({id: 'plan-a-0001', plan: 'plan-a', shard: pendingShard, from: 'n2', to: 'n3', phase: 'pending', baseEpoch: expect.any(Number), cancelRequested: false})
    }
  })

  it('Given A\'s pending move then cancelled (the way out the output names), When planned again, Then no conflict is named and --check says 10, as for any plan to review', async () => {
    const cancel = await cli(['moves', 'cancel', '--plan', 'plan-a'])
    expect(cancel.code, cancel.stderr).toBe(0)
    const r = await cli(['plan', '--check'])
    expect(r.code, r.stderr).toBe(10)
    expect(r.stdout).not.toContain('conflicts')
    expect(r.stderr).not.toContain('Warning:')
  })
})
