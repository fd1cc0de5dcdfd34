import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {runCli} from '../support/runCli.js'
import {uniqueCluster} from '../support/testStore.js'
import {snapshotOf} from '../planner/snapshotBuilder.js'

let cwd: string
const cli = (args: string[]) => runCli(args, {cwd})

beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-plan-'))
  const hot = (node: string) => ({replicas: [node], reads: 10, writes: 1, bytes: 1000})
  const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c', state: 'draining'}], shards: [hot('a'), hot('a'), hot('a'), hot('a'), hot('b'), hot('c')]})
  writeFileSync(join(cwd, 'snap.json'), JSON.stringify(snap))
  const balanced = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [hot('a'), hot('b')]})
  writeFileSync(join(cwd, 'balanced.json'), JSON.stringify(balanced))
})
afterAll(() => rmSync(cwd, {recursive: true, force: true}))

describe('shardctl plan (offline, from snapshot files)', () => {
  it('plans from a snapshot with no etcd, writes plans/<cluster>-<timestamp>.json, and show/verify accept it', async () => {
    const r = await cli(['plan', '--snapshot', 'snap.json', '--endpoints', 'http://127.0.0.1:1'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('status     needs-rebalance')
    const files = readdirSync(join(cwd, 'plans'))
    expect(files).toHaveLength(1)
    expect(files[0]).toMatch(/^test-\d{8}T\d{9}Z\.json$/)
    const file = join('plans', files[0]!)
    const show = await cli(['plan', 'show', file, '--format', 'markdown'])
    expect(show.code, show.stderr).toBe(0)
    expect(show.stdout).toContain('| max utilisation (x mean) |')
    const verify = await cli(['plan', 'verify', file, '--snapshot', 'snap.json', '--json'])
    expect(verify.code, verify.stderr).toBe(0)
    expect(JSON.parse(verify.stdout)).toMatchObject({hash: 'ok', stale: 0})
  })

  it('--check exits 0 for a balanced cluster and 10 when a rebalance is needed, writing nothing', async () => {
    const ok = await cli(['plan', '--snapshot', 'balanced.json', '--check', '--out', 'ok.json'])
    expect(ok.code, ok.stderr).toBe(0)
    const needs = await cli(['plan', '--snapshot', 'snap.json', '--check', '--format', 'markdown'])
    expect(needs.code).toBe(10)
    expect(needs.stderr).toMatch(/^Error: cluster "test" is outside its balance target/)
    expect(needs.stdout).toContain('**Rebalance needed')
  })

  it('--check exits 11, not 10, when the plan stops short of the target (the ring strategy, --max-moves), saying so', async () => {
    // One shard carries nearly all the load: no placement reaches 1.1x, and the ring's ignores load anyway.
    writeFileSync(join(cwd, 'one-hot.json'), JSON.stringify(snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [{replicas: ['a'], reads: 100}, {replicas: ['b'], reads: 1}]})))
    for (const args of [['--snapshot', 'one-hot.json', '--strategy', 'ring'], ['--snapshot', 'snap.json', '--max-moves', '1']]) {
      const r = await cli(['plan', '--check', ...args])
      expect(r.code, r.stderr).toBe(11)
      expect(r.stderr).toMatch(/^Error: cluster "test" is outside its balance target and this plan stops short of it: /)
      expect(r.stdout).toMatch(/status {5}unreachable \(this plan stops short of the target: (ring-complete|max-moves)\)/)
    }
  })

  it('--check exits 11 when a replica fits nowhere, and the plan written with --out still holds every other action and names the shard', async () => {
    const one = (node: string) => ({replicas: [node], reads: 10, writes: 1, bytes: 1000})
    const snap = snapshotOf({nodes: [{id: 'h1'}, {id: 'h2'}, {id: 'h3', state: 'draining'}], shards: [one('h1'), one('h2'), one('h3'), one('h3'), one('h2')], constraints: [{kind: 'forbid', shard: 4, node: 'h2'}, {kind: 'forbid', shard: 4, node: 'h1'}]})
    writeFileSync(join(cwd, 'stuck.json'), JSON.stringify(snap))
    const r = await cli(['plan', '--snapshot', 'stuck.json', '--check', '--out', 'stuck-plan.json'])
    expect(r.code, r.stderr).toBe(11)
    expect(r.stderr.trim().split('\n')).toEqual(['plan written to stuck-plan.json', expect.stringMatching(/^Error: cluster "test" cannot reach/)])
    expect(r.stderr).toMatch(/cannot reach its balance target: .*first: shard 4 cannot leave node h2 \(shard 4 is forbidden on node h2\)/)
    expect(r.stdout).toMatch(/unplaceable shard 4 on h2: shard 4 cannot leave node h2/)
    const written = JSON.parse(readFileSync(join(cwd, 'stuck-plan.json'), 'utf8'))
    expect(written.summary.unplaceable).toHaveLength(1)
    expect(written.actions.filter((a: {from: string}) => a.from === 'h3')).toHaveLength(2)
  })

  it('--format json prints the plan; --json returns the file and plan', async () => {
    const r = await cli(['plan', '--snapshot', 'snap.json', '--format', 'json', '--out', 'p.json'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(readFileSync(join(cwd, 'p.json'), 'utf8')))
    const j = await cli(['plan', '--snapshot', 'snap.json', '--json', '--out', 'q.json'])
    expect(JSON.parse(j.stdout)).toMatchObject({file: 'q.json', plan: {cluster: 'test'}})
  })

  it('refuses bad input with a one-line error naming the field, exit 2, and writes nothing', async () => {
    const snap = JSON.parse(readFileSync(join(cwd, 'snap.json'), 'utf8'))
    snap.nodes[1].capacity = {reads: -1}
    writeFileSync(join(cwd, 'bad.json'), JSON.stringify(snap))
    const r = await cli(['plan', '--snapshot', 'bad.json', '--out', 'never.json'])
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('nodes[1].capacity.reads')
    expect(existsSync(join(cwd, 'never.json'))).toBe(false)

    const plan = JSON.parse(readFileSync(join(cwd, 'p.json'), 'utf8'))
    plan.summary.moves += 1
    writeFileSync(join(cwd, 'tampered.json'), JSON.stringify(plan))
    const t = await cli(['plan', 'show', 'tampered.json'])
    expect(t.code).toBe(2)
    expect(t.stderr).toMatch(/hash: the plan was modified/)
  })

  it('plan schema and snapshot schema print JSON Schemas', async () => {
    const p = await cli(['plan', 'schema'])
    expect(JSON.parse(p.stdout)).toMatchObject({title: 'shardctl plan', type: 'object'})
    const s = await cli(['snapshot', 'schema'])
    expect(JSON.parse(s.stdout)).toMatchObject({title: 'shardctl cluster snapshot', type: 'object'})
  })
})

describe('shardctl plan (from etcd)', () => {
  it('plans from the live cluster and verifies the plan against it', async () => {
    const endpoint = inject('etcdEndpoint')
    const cluster = uniqueCluster('plan')
    const etcd = ['--endpoints', endpoint, '--cluster', cluster]
    const init = await cli(['cluster', 'init', ...etcd, '--shards', '12', '--rf', '1', '--nodes', 'n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003'])
    expect(init.code, init.stderr).toBe(0)
    const r = await cli(['plan', ...etcd, '--out', 'live.json', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).plan).toMatchObject({cluster, createdFrom: {fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/)}})
    const v = await cli(['plan', 'verify', 'live.json', ...etcd])
    expect(v.code, v.stderr).toBe(0)
  })
})
