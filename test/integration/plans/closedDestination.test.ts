import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createPrivateKey} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {type PlanAction, sealPlan} from '../../../src/model/plan.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {generateSigningKeyPair, signPlan} from '../../../src/plans/signing.js'
import {runCli} from '../../support/runCli.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {markNodesAlive} from '../../executor/fixtures.js'

/**
 * A CI plan made before its destination node was cordoned, on real etcd and the real CLI: the
 * plan (signed, as CI gates it) moves a shard onto another node; then the operator cordons that
 * node. The shard's epoch is unchanged (the node holds none of it), so until session 35 `plan verify`
 * passed the plan (exit 0) and `apply` recorded and ran the move onto the cordoned node. Now both
 * call the move stale (exit 7) and apply changes no etcd key.
 */
const stores = new StoreSet()
let ctx: ServiceContext
let etcd: string[]
let cwd: string
/** to: the plan's destination, cordoned once the plan is made. */
let to: string

const cli = (args: string[]) => runCli([...args, ...etcd], {cwd, timeoutMs: 20_000})

async function dumpCluster(): Promise<string[]> {
  const {items} = await ctx.store.list(ctx.keys.prefix)
  return items.map((kv) => `${kv.key}@${kv.modRevision}`)
}

beforeAll(async () => {
  const endpoint = inject('etcdEndpoint')
  const cluster = uniqueCluster('closed-dst')
  etcd = ['--endpoints', endpoint, '--cluster', cluster]
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-closed-dst-'))
  await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7301,n2=127.0.0.1:7302,n3=127.0.0.1:7303'), force: false})
  await markNodesAlive(ctx, ['n1', 'n2', 'n3'])
  const shard = (await listShards(ctx)).shards[0]!.value
  const from = shard.replicas[0]!.node
  to = ['n1', 'n2', 'n3'].find((n) => n !== from)!
  const template = planRebalance(await readSnapshot(ctx), {}, {id: 'ci-plan', createdAt: new Date().toISOString()})
  const move: PlanAction = {kind: 'move', shard: shard.id, epoch: shard.epoch, from, to, bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'fill n3'}, predicted: {source: 1, target: 1}}
  const keys = generateSigningKeyPair()
  writeFileSync(join(cwd, 'ci.pub'), keys.publicKeyPem)
  writeFileSync(join(cwd, 'plan.json'), JSON.stringify(signPlan(sealPlan({...template, actions: [move]}), createPrivateKey(keys.privateKeyPem)), null, 2))
  // The gate passes while n3 is active: the plan is good when made.
  const before = await cli(['plan', 'verify', 'plan.json', '--require-signature', 'ci.pub'])
  expect(before.code, before.stderr).toBe(0)
  const cordon = await cli(['node', 'cordon', to])
  expect(cordon.code, cordon.stderr).toBe(0)
})

afterAll(async () => {
  await stores.closeAll()
  rmSync(cwd, {recursive: true, force: true})
})

describe('a signed plan whose destination node was cordoned after it was made', () => {
  it('Given its destination cordoned since, When `plan verify` gates the plan, Then it exits 7 naming the node as cordoned', async () => {
    const r = await cli(['plan', 'verify', 'plan.json', '--require-signature', 'ci.pub'])
    expect(r.code, r.stdout + r.stderr).toBe(7)
    expect(r.stdout + r.stderr).toContain(`destination node "${to}" is cordoned: it takes no new replicas`)
  })

  it('Given its destination cordoned since, When `apply --require-signature` runs the plan (or `--stale skip`), Then it refuses, exit 7, and no etcd key of the cluster changed', async () => {
    const keys = await dumpCluster()
    const signed = await cli(['apply', 'plan.json', '--yes', '--require-signature', 'ci.pub'])
    expect(signed.code, signed.stdout + signed.stderr).toBe(7)
    expect(signed.stderr).toContain(`destination node "${to}" is cordoned`)
    const skip = await cli(['apply', 'plan.json', '--yes', '--stale', 'skip'])
    expect(skip.code, skip.stdout + skip.stderr).toBe(7)
    expect(await dumpCluster()).toEqual(keys)
  })
})
