import {spawn} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {Agent, request} from 'undici'
import {type DemoSummary} from '../../src/demo/demoService.js'
import {stopKeptDemo} from '../../src/demo/keptDemo.js'
import {trackPid, untrackPid} from '../support/processReaper.js'
import {listening, processesUnder, workDirs} from '../support/demoRuns.js'
import {CLI_BIN, runCli} from '../support/runCli.js'

/**
 * `shardctl demo` end to end, as CI runs it: the real binary with small sizes, real etcd,
 * storage node and router processes, real HTTP client load. The summary's figures must
 * tell the story (a hot node, a rebalance under load that brings the imbalance down, no
 * failed client request, no failed move), and nothing may be left running or on disk —
 * also when the demo is interrupted with Ctrl-C (SIGINT).
 */

const workDir = workDirs('shardctl-demo-e2e-')

async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (check()) return true
    await new Promise((r) => setTimeout(r, 200))
  }
  return check()
}

describe('shardctl demo', () => {
  it('Given 3 nodes with rf 2 and skewed load, When `demo --fast --no-tui --json` runs, Then the summary shows a rebalance under load that lowers the imbalance with zero client errors and nothing is left behind', async () => {
    const cwd = workDir()
    const r = await runCli(['demo', '--fast', '--no-tui', '--json', '--nodes', '3', '--rf', '2', '--shards', '8', '--duration', '60s', '--rate', '60', '--throttle', '512KiB/s'], {cwd, timeoutMs: 240_000})
    // The summary (stdout) names the first client errors when there were any (exit 1: not ok).
    expect(r.code, `${r.stderr.slice(-3000)}\n${r.stdout.slice(0, 4000)}`).toBe(0)
    const s = JSON.parse(r.stdout) as DemoSummary
    expect(s).toMatchObject({ok: true, nodes: 3, rf: 2, shards: 8, hotNode: 'n1'})
    // The story: n1 ran hot, moves happened, the imbalance came down, clients never failed.
    expect(s.imbalanceBefore!).toBeGreaterThan(s.target)
    expect(s.rounds).toBeGreaterThanOrEqual(1)
    expect(s.moves.done).toBeGreaterThanOrEqual(1)
    expect(s.moves.failed + s.moves.aborted).toBe(0)
    expect(s.bytesMoved).toBeGreaterThan(0)
    expect(s.imbalanceAfter!).toBeLessThan(s.imbalanceBefore!)
    expect(s.imbalancePredicted!).toBeLessThan(s.imbalanceBefore!)
    expect(s.requests.total).toBeGreaterThan(50)
    expect(s.requests.duringRebalance).toBeGreaterThan(0)
    expect(s.requests.errors).toBe(0)
    expect(s.requests.errorsDuringRebalance).toBe(0)
    expect(s.rebalanceMs).toBeGreaterThan(0)
    // The story went to stderr (stdout carries only the JSON).
    expect(r.stderr).toMatch(/round 1 plan:/)
    expect(s.requests.worstMs).toBeGreaterThan(0)
    // Nothing left: no process mentions the work dir, the demo's data dir is gone.
    expect(await eventually(() => processesUnder(cwd).length === 0, 10_000), processesUnder(cwd).join('\n')).toBe(true)
    const demoDir = join(cwd, '.shardctl', 'demo')
    expect(existsSync(demoDir) ? readdirSync(demoDir) : []).toEqual([])
  }, 300_000)

  it('Given the full story without a terminal, When `demo --no-tui --json` runs small, Then a node joins and is filled, the hot node is relieved (the act moves replicas off it), a node is drained empty, clients see zero errors, and nothing is left behind', async () => {
    const cwd = workDir()
    const r = await runCli(['demo', '--no-tui', '--json', '--preload', '1MiB', '--shards', '12', '--moves-per-act', '2', '--rate', '60'], {cwd, timeoutMs: 600_000})
    expect(r.code, r.stderr.slice(-3000)).toBe(0)
    const s = JSON.parse(r.stdout) as DemoSummary
    expect(s).toMatchObject({ok: true, nodes: 5, hotNode: 'n1', kept: null, security: {tls: false, auth: false}})
    // Act 4 runs only when the load measured after the three acts is still outside the target (settleRound).
    const titles = s.acts.map((a) => a.title)
    expect(titles.slice(0, 3)).toEqual(['act 1: fill n5', 'act 2: relieve n1', 'act 3: drain n4'])
    expect(titles.slice(3)).toEqual(titles.length > 3 ? ['act 4: settle'] : [])
    for (const a of s.acts) expect(a.done, a.title).toBe(a.planned)
    expect(s.acts[0]!.done).toBeGreaterThanOrEqual(1)
    // Act 2 relieves the hot node: every one of its moves leaves n1 (the story's deterministic target).
    expect(r.stderr).toMatch(/act 2: relieve n1 plan:/)
    const act2 = r.stderr.slice(r.stderr.indexOf('act 2: relieve n1 plan:'), r.stderr.indexOf('act 2: relieve n1: '))
    const act2Moves = [...act2.matchAll(/move shard \d+ \(epoch \d+\) (n\d) -> (n\d)/g)]
    expect(act2Moves.length).toBeGreaterThanOrEqual(1)
    for (const m of act2Moves) expect(m[1], m[0]).toBe('n1')
    // The drain empties n4: after the story it holds nothing (n/a: no replicas, no figures, or 0).
    expect(s.utilisation.find((u) => u.node === 'n4')?.after ?? 0).toBeLessThan(0.05)
    expect(s.utilisation.find((u) => u.node === 'n5')?.before).toBeNull()
    expect(s.requests.errors).toBe(0)
    expect(s.moves.failed + s.moves.aborted).toBe(0)
    expect(await eventually(() => processesUnder(cwd).length === 0, 10_000), processesUnder(cwd).join('\n')).toBe(true)
    expect(existsSync(join(cwd, '.shardctl', 'demo')) ? readdirSync(join(cwd, '.shardctl', 'demo')) : []).toEqual([])
  }, 660_000)

  it('Given a running demo, When it gets SIGINT (Ctrl-C), Then it stops every child process and removes its data', async () => {
    const cwd = workDir()
    const child = spawn(process.execPath, [CLI_BIN, 'demo', '--fast', '--no-tui', '--nodes', '3', '--rf', '2', '--shards', '4', '--duration', '60s', '--rate', '30'], {cwd, env: {PATH: process.env.PATH, HOME: cwd}, stdio: ['ignore', 'pipe', 'pipe']})
    trackPid(child.pid)
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      expect(await eventually(() => /client load on/.test(out), 180_000), out.slice(-2000)).toBe(true)
      expect(processesUnder(cwd).length).toBeGreaterThanOrEqual(5) // etcd, 3 nodes, the router
      child.kill('SIGINT')
      const code = await exited
      // The documented code of a run stopped by Ctrl-C (it was 1, "precondition", or 3 with "etcd unreachable").
      expect(code, out.slice(-2000)).toBe(130)
      expect(out).toMatch(/Error: demo interrupted — nothing was left running/)
      expect(await eventually(() => processesUnder(cwd).length === 0, 15_000), processesUnder(cwd).join('\n')).toBe(true)
      const demoDir = join(cwd, '.shardctl', 'demo')
      expect(existsSync(demoDir) ? readdirSync(demoDir) : []).toEqual([])
    } finally {
      child.kill('SIGKILL')
      untrackPid(child.pid)
    }
  }, 240_000)

  it('Given --keep --secure, When the fast demo ends, Then the cluster keeps running TLS-only with authentication: plaintext is refused on the router and every node, a client without a token gets 401, the printed settings reach it (kv, cluster status, top), and `demo stop` leaves no process, port or file', async () => {
    const cwd = workDir()
    const r = await runCli(['demo', '--fast', '--no-tui', '--json', '--keep', '--secure', '--nodes', '3', '--rf', '2', '--shards', '8', '--duration', '45s', '--rate', '60', '--throttle', '512KiB/s'], {cwd, timeoutMs: 300_000})
    const s = JSON.parse(r.stdout || '{}') as DemoSummary
    try {
      expect(r.code, r.stderr.slice(-3000)).toBe(0)
      expect(s).toMatchObject({ok: true, security: {tls: true, auth: true, user: 'demo-client'}})
      expect(s.moves.done).toBeGreaterThanOrEqual(1)
      expect(s.requests.errors).toBe(0)
      const kept = s.kept!
      expect(kept.processes.map((p) => p.name).sort()).toEqual(['etcd', 'node-n1', 'node-n2', 'node-n3', 'router'])
      // The demo exited; its cluster did not.
      expect(processesUnder(kept.dir).length).toBeGreaterThanOrEqual(5)

      // Every data-plane port refuses plaintext, naming TLS; so the moves' copies (node to
      // node) and the router's requests to nodes that succeeded above went over TLS.
      for (const address of [kept.router, ...kept.nodes.map((n) => n.address)]) {
        const plain = await request(`http://${address}/kv/d1`)
        expect(plain.statusCode, address).toBe(400)
        expect(await plain.body.text()).toContain('TLS_REQUIRED')
      }
      // TLS without a token: authentication is on.
      const tlsOnly = new Agent({connect: {ca: readFileSync(kept.secure!.ca)}})
      const anonymous = await request(`https://${kept.router}/kv/d1`, {dispatcher: tlsOnly})
      expect(anonymous.statusCode).toBe(401)
      await anonymous.body.dump()
      await tlsOnly.close()

      // The connection settings the summary prints reach the kept cluster.
      const env = {ETCDCTL_ENDPOINTS: kept.endpoint, SHARDCTL_CLUSTER: kept.cluster, SHARDCTL_ROUTER: kept.router, SHARDCTL_TLS_CA: kept.secure!.ca, SHARDCTL_AUTH_TOKEN_FILE: kept.secure!.tokenFile}
      expect((await runCli(['kv', 'put', 'hello', 'kept'], {cwd, env, timeoutMs: 60_000})).code).toBe(0)
      const got = await runCli(['kv', 'get', 'hello'], {cwd, env, timeoutMs: 60_000})
      expect(got.stdout).toBe('kept')
      const status = await runCli(['cluster', 'status', '--json'], {cwd, env, timeoutMs: 60_000})
      expect(status.code, status.stderr).toBe(0)
      expect(status.stdout).toContain('"n3"')
      const top = await runCli(['top', '--json'], {cwd, env, timeoutMs: 60_000})
      expect(top.code, top.stderr).toBe(0)
      expect(JSON.parse(top.stdout)).toMatchObject({header: {cluster: 'demo', nodesUp: 3, nodesDown: 0}})

      const stop = await runCli(['demo', 'stop'], {cwd, timeoutMs: 120_000})
      expect(stop.code, stop.stderr).toBe(0)
      // Nodes start side by side, so the kept record lists them in any order; the router and etcd stop last.
      expect(stop.stdout).toMatch(/stopped (node-n[123], ){3}router, etcd; removed /)
      for (const n of ['node-n1', 'node-n2', 'node-n3']) expect(stop.stdout).toContain(n)
      expect(processesUnder(kept.dir)).toEqual([])
      for (const address of [kept.router, kept.endpoint.replace('http://', ''), ...kept.nodes.map((n) => n.address)]) expect(await listening(address), address).toBe(false)
      expect(existsSync(kept.dir)).toBe(false)
      expect((await runCli(['demo', 'stop'], {cwd, timeoutMs: 60_000})).stdout).toMatch(/already stopped/)
    } finally {
      // Whatever failed above, the kept processes must not outlive the test.
      if (s.kept && existsSync(s.kept.dir)) await stopKeptDemo(s.kept.dir)
    }
  }, 600_000)
})
