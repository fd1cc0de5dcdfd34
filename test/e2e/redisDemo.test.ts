import {existsSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {type RedisDemoSummary} from '../../src/demo/redisDemo.js'
import {redisAvailable} from '../support/redisCluster.js'
import {listening, processesUnder, workDirs} from '../support/demoRuns.js'
import {runCli} from '../support/runCli.js'

/**
 * `shardctl demo --engine redis` end to end: the real binary starts a private etcd and a
 * real 3+3 Redis Cluster, skews the load onto one master, plans load-aware and applies it
 * under the load. The summary must show the skew measured before, the worst master's ops
 * brought down after, every move done, no failed client request and every key reading its
 * last written value; nothing may be left running or on disk. Without redis-server the
 * command exits 9 naming the package, and changes nothing.
 */

const available = await redisAvailable()
const workDir = workDirs('shardctl-redis-demo-e2e-')

describe('shardctl demo --engine redis', () => {
  it.skipIf(!available)('rebalances a skewed Redis Cluster by load under client load, with zero errors, and leaves nothing behind', async () => {
    const cwd = workDir()
    const r = await runCli(['demo', '--engine', 'redis', '--no-tui', '--json', '--keys', '5000', '--rate', '200'], {cwd, timeoutMs: 400_000})
    expect(r.code, r.stderr.slice(-3000)).toBe(0)
    const s = JSON.parse(r.stdout) as RedisDemoSummary
    expect(s.ok).toBe(true)
    expect(s.masters).toHaveLength(3)
    // The skew shows in what was measured, and the rebalance brings the hottest master down.
    expect(s.opsImbalance.before ?? 0).toBeGreaterThan(1.8)
    expect(s.opsImbalance.after ?? Infinity).toBeLessThan(s.opsImbalance.before ?? 0)
    const hot = s.masters.reduce((a, b) => (b.opsPerSec.before > a.opsPerSec.before ? b : a))
    expect(hot.opsPerSec.after).toBeLessThan(hot.opsPerSec.before)
    expect(hot.slots.after).toBeLessThan(hot.slots.before)
    expect(s.masters.reduce((a, m) => a + m.slots.after, 0)).toBe(16384)
    expect(s.plan.moves).toBeGreaterThan(0)
    expect(s.moves).toEqual({done: s.plan.moves, aborted: 0, failed: 0, skipped: 0})
    expect(s.keysMoved).toBeGreaterThan(0)
    // The client load ran through the rebalance and never failed; every key reads its last write.
    expect(s.requests.duringRebalance).toBeGreaterThan(0)
    expect(s.requests.errors).toBe(0)
    expect(s.verified).toEqual({checked: 5000, mismatched: 0, examples: []})
    // Everything stopped and removed.
    expect(processesUnder(cwd)).toEqual([])
    for (const m of s.masters) expect(await listening(m.address)).toBe(false)
    expect(existsSync(join(cwd, '.shardctl', 'demo')) ? readdirSync(join(cwd, '.shardctl', 'demo')) : []).toEqual([])
  }, 420_000)

  it('without redis-server exits 9 with one line naming the package, and starts nothing', async () => {
    const cwd = workDir()
    const empty = workDir()
    const r = await runCli(['demo', '--engine', 'redis', '--no-tui'], {cwd, env: {PATH: empty}, timeoutMs: 60_000})
    expect(r.code).toBe(9)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/redis-server or redis-cli is not installed/)
    expect(r.stderr).toMatch(/apt-get install redis-server/)
    expect(r.stdout).toBe('')
    expect(existsSync(join(cwd, '.shardctl'))).toBe(false)
  }, 90_000)

  it('refuses flags the redis story does not support, with exit 2', async () => {
    const cwd = workDir()
    const r = await runCli(['demo', '--engine', 'redis', '--keep'], {cwd, timeoutMs: 60_000})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--keep is not supported with --engine redis/)
    expect(existsSync(join(cwd, '.shardctl'))).toBe(false)
  }, 90_000)
})
