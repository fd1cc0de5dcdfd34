import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {freePort} from '../../src/localEtcd/freePort.js'
import {etcdBugsIn} from '../../src/etcd/etcdKnownBugs.js'
import {runCli} from '../support/runCli.js'
import {uniqueCluster} from '../support/testStore.js'

let cwd: string
let endpoint: string
const cluster = uniqueCluster('cli')
const NODES = 'n1=127.0.0.1:7001@a,n2=127.0.0.1:7002@b,n3=127.0.0.1:7003@c'

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, {cwd, env})

beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-cli-'))
  endpoint = inject('etcdEndpoint')
})
afterAll(() => rmSync(cwd, {recursive: true, force: true}))

describe('shardctl CLI against a real etcd', () => {
  it('cluster init + cluster status --json', async () => {
    const init = await cli(['cluster', 'init', '--endpoints', endpoint, '--cluster', cluster, '--shards', '32', '--rf', '3', '--nodes', NODES, '--json'])
    expect(init.code, init.stderr).toBe(0)
    expect(JSON.parse(init.stdout)).toMatchObject({cluster, shards: 32, rf: 3, replaced: false})
    const status = await cli(['cluster', 'status', '--endpoints', endpoint, '--cluster', cluster, '--json'])
    expect(status.code, status.stderr).toBe(0)
    const body = JSON.parse(status.stdout)
    expect(body).toMatchObject({cluster, shards: 32, meta: {rf: 3}, nodesUp: 0, nodesDown: 3, executor: null})
    expect(body.nodes.map((n: {id: string}) => n.id)).toEqual(['n1', 'n2', 'n3'])
    // The etcd answering, and its known bugs: the human output warns exactly when there are some.
    const known = etcdBugsIn(body.etcd.version)!
    expect(body.etcd.bugs.map((b: {ref: string}) => b.ref)).toEqual(known.map((b) => b.ref))
    const human = await cli(['cluster', 'status', '--endpoints', endpoint, '--cluster', cluster])
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toContain(`etcd ${body.etcd.version})`)
    expect(human.stdout.includes(`WARNING: etcd ${body.etcd.version} has ${known.length} known bug`)).toBe(known.length > 0)
  })

  it('takes endpoints and cluster from ETCDCTL_ENDPOINTS / SHARDCTL_CLUSTER, and flags win over env', async () => {
    const viaEnv = await cli(['shard', 'locate', 'user:42', '--json'], {ETCDCTL_ENDPOINTS: endpoint, SHARDCTL_CLUSTER: cluster})
    expect(viaEnv.code, viaEnv.stderr).toBe(0)
    expect(JSON.parse(viaEnv.stdout).replicas).toHaveLength(3)
    const flagWins = await cli(['shard', 'locate', 'user:42', '--endpoints', endpoint], {ETCDCTL_ENDPOINTS: 'http://127.0.0.1:1', SHARDCTL_CLUSTER: cluster})
    expect(flagWins.code, flagWins.stderr).toBe(0)
  })

  it('reads a shardctl.yaml config file in the working directory', async () => {
    writeFileSync(join(cwd, 'shardctl.yaml'), `endpoints: ${endpoint}\ncluster: ${cluster}\n`)
    try {
      const r = await cli(['node', 'list', '--json'])
      expect(r.code, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout).nodes).toHaveLength(3)
      writeFileSync(join(cwd, 'shardctl.yaml'), 'endpoints: [\n')
      const bad = await cli(['node', 'list'])
      expect(bad.code).toBe(2)
      expect(bad.stderr.trim().split('\n')).toHaveLength(1)
      expect(bad.stderr).toMatch(/shardctl.yaml is not valid YAML/)
    } finally {
      rmSync(join(cwd, 'shardctl.yaml'))
    }
  })

  it('exits 6 when the cluster exists, 2 on bad input, 3 when etcd is unreachable — one line each, nothing changed', async () => {
    const again = await cli(['cluster', 'init', '--endpoints', endpoint, '--cluster', cluster, '--shards', '4', '--rf', '1', '--nodes', 'n1=127.0.0.1:7001'])
    expect(again.code).toBe(6)
    expect(again.stderr).toMatch(/^Error: cluster ".*" already exists — pass --force/)
    for (const args of [
      ['cluster', 'init', '--shards', 'x', '--nodes', NODES],
      ['cluster', 'init', '--shards', '4', '--nodes', 'n1=nope'],
      ['node', 'add', 'n9', '--address', '127.0.0.1:7009', '--capacity', 'reads=-1'],
      ['cluster', 'status', '--bogus'],
      ['shard', 'show', 'abc'],
      ['shard', 'show', '-1'],
    ]) {
      const r = await cli([...args, '--endpoints', endpoint, '--cluster', cluster])
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toMatch(/^Error: .+ — .+/)
      // A bad shard id names the argument and the form it takes (oclif's own message named neither).
      if (args[0] === 'shard') expect(r.stderr).toMatch(/^Error: argument ID: a shard id is a whole number, 0 or more/)
      // A negative id is a number the cluster cannot have: the error names the ids it has, as `shard show 99` does.
      if (args[2] === '-1') expect(r.stderr.trim()).toBe('Error: argument ID: a shard id is a whole number, 0 or more (shards are numbered from 0); got "-1"; this cluster has shards 0..31 — list the shard ids with `shardctl shard list`')
    }
    // node add checks its id, --address and --zone each on its own and names the one that is wrong.
    const badId = await cli(['node', 'add', 'n=9', '--address', '127.0.0.1:7009', '--endpoints', endpoint, '--cluster', cluster])
    expect(badId.code).toBe(2)
    expect(badId.stderr.trim()).toBe('Error: node id "n=9" is invalid: node id must be 1-63 characters of letters, digits, "_", "." or "-", starting with a letter or digit — pick an id such as n4')
    const status = await cli(['shard', 'list', '--endpoints', endpoint, '--cluster', cluster, '--json'])
    const lines = status.stdout.trim().split('\n').map((l) => JSON.parse(l) as {id: number})
    expect(lines.map((s) => s.id)).toEqual([...Array(32).keys()])

    const port = await freePort()
    const down = await cli(['cluster', 'status', '--endpoints', `http://127.0.0.1:${port}`, '--cluster', cluster])
    expect(down.code).toBe(3)
    expect(down.stderr).toMatch(new RegExp(`etcd at http://127.0.0.1:${port} \\(from --endpoints\\) is unreachable`))
    const downJson = await cli(['cluster', 'status', '--endpoints', `http://127.0.0.1:${port}`, '--json'])
    expect(JSON.parse(downJson.stdout).error).toMatchObject({code: 'ETCD_UNREACHABLE', exitCode: 3})
  }, 150_000) // ten CLI runs, each a cold start: on a loaded 2-core machine 30 s is not enough

  it('shard list --node with a node the cluster does not have is an error naming it (exit 1), not an empty list', async () => {
    const r = await cli(['shard', 'list', '--node', 'n99', '--endpoints', endpoint, '--cluster', cluster])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr.trim()).toBe(`Error: node "n99" does not exist in cluster "${cluster}" — list nodes with \`shardctl node list\``)
    const known = await cli(['shard', 'list', '--node', 'n1', '--limit', '2', '--endpoints', endpoint, '--cluster', cluster, '--json'])
    expect(known.code, known.stderr).toBe(0)
    expect(known.stdout.trim().split('\n')).toHaveLength(2)
  })

  it('shard list lines its columns up under the header, the widest hash ranges included', async () => {
    const r = await cli(['shard', 'list', '--endpoints', endpoint, '--cluster', cluster])
    expect(r.code, r.stderr).toBe(0)
    const [header, ...rows] = r.stdout.trimEnd().split('\n')
    expect(rows).toHaveLength(32)
    const column = header!.indexOf('REPLICAS')
    for (const row of rows) expect(row.slice(column), row).toMatch(/^n\d/)
  })

  it('has --help on every command', async () => {
    for (const cmd of [['cluster', 'init'], ['node', 'add'], ['shard', 'locate'], ['etcd', 'start']]) {
      const r = await cli([...cmd, '--help'])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/USAGE/)
      expect(r.stdout).toMatch(/EXAMPLES/)
    }
  })
})
