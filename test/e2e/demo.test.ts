import {spawn} from 'node:child_process'
import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {type DemoSummary} from '../../src/demo/demoService.js'
import {trackPid, untrackPid} from '../support/processReaper.js'
import {CLI_BIN, runCli} from '../support/runCli.js'

/**
 * `shardctl demo` end to end, as CI runs it: the real binary with small sizes, real etcd,
 * storage node and router processes, real HTTP client load. The summary's figures must
 * tell the story (a hot node, a rebalance under load that brings the imbalance down, no
 * failed client request, no failed move), and nothing may be left running or on disk —
 * also when the demo is interrupted with Ctrl-C (SIGINT).
 */

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

function workDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'shardctl-demo-e2e-'))
  dirs.push(d)
  return d
}

/**
 * processesUnder lists processes belonging to a demo run in `dir`: etcd names its data
 * dir in its arguments, nodes and the router carry SHARDCTL_DEMO=<data dir> in their
 * environment.
 */
function processesUnder(dir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], {encoding: 'utf8'})
  return out.split('\n').filter((l) => {
    if (!l.trim() || l.includes(' ps -eo')) return false
    if (l.includes(dir)) return true
    try {
      return readFileSync(`/proc/${l.trim().split(' ')[0]}/environ`, 'utf8').includes(`SHARDCTL_DEMO=${dir}`)
    } catch {
      return false // gone meanwhile
    }
  })
}

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
    expect(r.code, r.stderr.slice(-3000)).toBe(0)
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
      expect(code).not.toBe(0)
      expect(await eventually(() => processesUnder(cwd).length === 0, 15_000), processesUnder(cwd).join('\n')).toBe(true)
      const demoDir = join(cwd, '.shardctl', 'demo')
      expect(existsSync(demoDir) ? readdirSync(demoDir) : []).toEqual([])
    } finally {
      child.kill('SIGKILL')
      untrackPid(child.pid)
    }
  }, 240_000)
})
