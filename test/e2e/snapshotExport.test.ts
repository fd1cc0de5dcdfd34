import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {readSnapshotFile} from '../../src/plans/planFiles.js'
import {DataPlane, kv, waitFor} from '../integration/router/dataPlane.js'
import {CLI_BIN, type CliResult, runCli} from '../support/runCli.js'

/**
 * Offline planning of a live cluster, end to end on real processes: a cluster of storage
 * nodes with data and published load gets an empty node; `snapshot export` writes what etcd
 * holds; `plan --snapshot` plans from it with no etcd reachable (a dead endpoint); the same
 * works through a pipe (`snapshot export | plan --snapshot -`); `apply` runs the offline plan
 * against the live cluster, and every key stays readable with its value.
 */

/** pipeCli runs `shardctl first... | shardctl second...` as two real processes joined by a pipe, killed after `timeoutMs`. */
function pipeCli(first: string[], second: string[], cwd: string, timeoutMs = 30_000): Promise<{first: CliResult; second: CliResult}> {
  const env: NodeJS.ProcessEnv = {PATH: process.env.PATH, HOME: cwd}
  const a = spawn(process.execPath, [CLI_BIN, ...first], {cwd, env, stdio: ['ignore', 'pipe', 'pipe']})
  const b = spawn(process.execPath, [CLI_BIN, ...second], {cwd, env, stdio: ['pipe', 'pipe', 'pipe']})
  a.stdout.pipe(b.stdin)
  const collect = (p: ChildProcess): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      let stdout = ''
      let stderr = ''
      p.stdout!.on('data', (d) => (stdout += d))
      p.stderr!.on('data', (d) => (stderr += d))
      const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
      p.on('error', reject)
      p.on('close', (code, signal) => {
        clearTimeout(timer)
        resolve({code: code ?? (signal ? 128 : 1), stdout, stderr})
      })
    })
  return Promise.all([collect(a), collect(b)]).then(([x, y]) => ({first: x, second: y}))
}

describe('snapshot export -> plan --snapshot (no etcd) -> apply, on a live cluster', () => {
  let dp: DataPlane
  let router: string
  let cwd: string
  const values = new Map<string, string>()
  const DEAD_ETCD = ['--endpoints', 'http://127.0.0.1:1']

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'shardctl-snap-'))
    dp = new DataPlane(inject('etcdEndpoint'), 'snapexp')
    await dp.init(3, 6, 1)
    router = (await dp.startRouter('r1')).address
    for (let i = 0; i < 120; i += 10) {
      await Promise.all(
        Array.from({length: 10}, async (_, j) => {
          const key = `k-${i + j}`
          const value = `v-${i + j}-${'x'.repeat(200)}`
          const r = await kv(router, 'PUT', key, value)
          expect(r.status, key).toBe(204)
          values.set(key, value)
        }),
      )
    }
    // Every replica's bytes must be in the published stats before the snapshot means anything.
    await waitFor(async () => {
      const snap = await readSnapshot(dp.ctx)
      return snap.load.length === 6 && snap.load.every((l) => l.bytes > 0) ? snap : undefined
    }, 'every replica to publish its load', 30_000)
    // A fourth node joins empty: the plan has something to fill.
    // A placeholder address (nothing listens on port 4): n4 starts on port 0 and registers the port it bound.
    dp.dataDirs.n4 = mkdtempSync(join(tmpdir(), 'shardctl-rt-n4-'))
    const add = await runCli(['node', 'add', 'n4', '--address', '127.0.0.1:4', '--endpoints', dp.endpoint, '--cluster', dp.cluster], {cwd})
    expect(add.code, add.stderr).toBe(0)
    await dp.startNode('n4')
  }, 120_000)
  afterAll(async () => {
    await dp?.teardown()
    if (cwd) rmSync(cwd, {recursive: true, force: true})
  })

  it('exports a snapshot file that plan --snapshot reads with no etcd reachable, and apply runs that plan', async () => {
    const exported = await runCli(['snapshot', 'export', '--out', 'snap.json', '--endpoints', dp.endpoint, '--cluster', dp.cluster], {cwd})
    expect(exported.code, exported.stderr).toBe(0)
    expect(exported.stderr).toMatch(/snapshot of cluster ".*" at revision \d+ \(4 nodes, 6 shards\) written to snap\.json/)
    const snap = readSnapshotFile(join(cwd, 'snap.json'))
    expect(snap.nodes.map((n) => n.id).sort()).toEqual(['n1', 'n2', 'n3', 'n4'])
    expect(snap.load.filter((l) => l.bytes > 0)).toHaveLength(6)

    // The dead endpoint proves the plan needs no etcd: any attempt to reach it would exit 3.
    const planned = await runCli(['plan', '--snapshot', 'snap.json', ...DEAD_ETCD, '--out', 'plan.json', '--json'], {cwd})
    expect(planned.code, planned.stderr).toBe(0)
    const plan = JSON.parse(planned.stdout).plan as {createdFrom: {fingerprint: string}; actions: {kind: string; to?: string}[]}
    expect(plan.createdFrom.fingerprint).toBe(snap.fingerprint)
    const toN4 = plan.actions.filter((a) => a.kind === 'move' && a.to === 'n4').length
    expect(toN4).toBeGreaterThan(0)

    const applied = await runCli(['apply', 'plan.json', '--yes', '--endpoints', dp.endpoint, '--cluster', dp.cluster], {cwd, timeoutMs: 90_000})
    expect(applied.code, applied.stderr + applied.stdout).toBe(0)
    const shards = await dp.shards()
    expect(shards.filter((s) => s.replicas.some((r) => r.node === 'n4'))).toHaveLength(toN4)
    for (const [key, value] of values) {
      const r = await kv(router, 'GET', key)
      expect(r.status, key).toBe(200)
      expect(r.body.toString(), key).toBe(value)
    }
  }, 120_000)

  it('`snapshot export | plan --snapshot -` plans through a pipe; piped with no --out the export writes no file', async () => {
    const {first, second} = await pipeCli(['snapshot', 'export', '--endpoints', dp.endpoint, '--cluster', dp.cluster], ['plan', '--snapshot', '-', ...DEAD_ETCD, '--format', 'json', '--out', 'piped.json'], cwd)
    expect(first.code, first.stderr).toBe(0)
    expect(second.code, second.stderr).toBe(0)
    const plan = JSON.parse(second.stdout) as {cluster: string; createdFrom: {fingerprint: string}}
    expect(plan.cluster).toBe(dp.cluster)
    const now = await readSnapshot(dp.ctx)
    expect(plan.createdFrom.fingerprint).toBe(now.fingerprint)
    expect(existsSync(join(cwd, 'plans')) ? readdirSync(join(cwd, 'plans')).filter((f) => f.includes('-snapshot-')) : []).toEqual([])
  }, 60_000)

  it('refuses bad input with one line and a documented exit code, writing nothing', async () => {
    mkdirSync(join(cwd, 'empty'), {recursive: true})
    const garbage = await pipeCli(['--version'], ['plan', '--snapshot', '-', ...DEAD_ETCD, '--out', 'never.json'], cwd)
    expect(garbage.second.code).toBe(2)
    expect(garbage.second.stderr.trim().split('\n')).toHaveLength(1)
    expect(garbage.second.stderr).toMatch(/snapshot -: not valid JSON/)
    const unreachable = await runCli(['snapshot', 'export', '--out', 'never.json', ...DEAD_ETCD, '--cluster', dp.cluster], {cwd, timeoutMs: 60_000})
    expect(unreachable.code).toBe(3)
    expect(unreachable.stderr.trim().split('\n')).toHaveLength(1)
    expect(existsSync(join(cwd, 'never.json'))).toBe(false)
    expect(readFileSync(join(cwd, 'snap.json'), 'utf8').length).toBeGreaterThan(0)
  }, 90_000)
})
