import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {Config} from '@oclif/core'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {parse as parseYaml} from 'yaml'
import {trackPid, untrackPid} from '../support/processReaper.js'
import {CLI_BIN} from '../support/runCli.js'
import {DataPlane, kv} from '../integration/router/dataPlane.js'

/**
 * examples/ci: the GitHub Actions workflow runs examples/ci/rebalance.sh; this runs the
 * same script against a local cluster (real etcd, node and router processes): snapshot,
 * plan --check --format markdown, sign, apply --require-signature, and a tampered plan
 * refused. The script's first step is `shardctl snapshot export`, written on another
 * branch: until it exists, the cluster run is skipped with that reason.
 */

const root = resolve(import.meta.dirname, '../..')
const SCRIPT = join(root, 'examples/ci/rebalance.sh')
const SHARDCTL = `${process.execPath} ${CLI_BIN}`

function runScript(args: string[], env: Record<string, string>, cwd: string): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [SCRIPT, ...args], {cwd, env: {PATH: process.env.PATH, HOME: cwd, SHARDCTL, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    trackPid(child.pid)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      untrackPid(child.pid)
      resolvePromise({code, stdout, stderr})
    })
  })
}

const hasSnapshotExport = (await Config.load({root})).commandIDs.includes('snapshot:export')

describe('the workflow file', () => {
  it('runs rebalance.sh plan on a schedule, shows the plan, and applies only after a manual approval', () => {
    const wf = parseYaml(readFileSync(join(root, 'examples/ci/rebalance.yml'), 'utf8')) as {
      on: Record<string, unknown>
      jobs: Record<string, {needs?: string; if?: string; environment?: string; steps: {run?: string; env?: Record<string, string>}[]}>
    }
    expect(wf.on).toHaveProperty('schedule')
    const runs = (job: string) => wf.jobs[job]!.steps.map((s) => s.run ?? '').join('\n')
    expect(runs('plan')).toMatch(/examples\/ci\/rebalance\.sh plan out/)
    expect(runs('plan')).toMatch(/GITHUB_STEP_SUMMARY/)
    expect(runs('plan')).toMatch(/secrets\.SHARDCTL_PLAN_SIGNING_KEY/)
    expect(wf.jobs.apply).toMatchObject({needs: 'plan', environment: 'production'})
    expect(wf.jobs.apply!.if).toMatch(/needs-rebalance == 'true'/)
    expect(runs('apply')).toMatch(/examples\/ci\/rebalance\.sh apply out/)
  })
})

describe('rebalance.sh usage', () => {
  it('refuses an unknown step with exit 2, and a missing signing key before touching the cluster', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'shardctl-ci-usage-'))
    try {
      const bogus = await runScript(['deploy', 'out'], {}, cwd)
      expect(bogus.code).toBe(2)
      expect(bogus.stderr).toMatch(/unknown step "deploy"/)
      const noKey = await runScript(['plan', 'out'], {ETCDCTL_ENDPOINTS: 'http://127.0.0.1:1'}, cwd)
      expect(noKey.code).not.toBe(0)
      expect(noKey.stderr).toMatch(/SHARDCTL_PLAN_KEY_FILE/)
    } finally {
      rmSync(cwd, {recursive: true, force: true})
    }
  }, 60_000)
})

describe('rebalance.sh against a local cluster', () => {
  it('has `shardctl snapshot export`, the script\'s first step', () => expect(hasSnapshotExport).toBe(true))
})

describe('rebalance.sh against a local cluster (snapshot export, plan, sign, apply)', () => {
  let dp: DataPlane
  let cwd: string
  let env: Record<string, string>

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'shardctl-ci-'))
    dp = new DataPlane(inject('etcdEndpoint'), 'ci')
    await dp.init(2, 8, 1)
    const router = await dp.startRouter('r1')
    for (let i = 0; i < 200; i++) await kv(router.address, 'PUT', `k${i}`, 'x'.repeat(512))
    // A new, empty node: the cluster is now out of balance.
    // A placeholder address (nothing listens on port 3): n3 starts on port 0 and registers the port it bound.
    dp.dataDirs.n3 = mkdtempSync(join(tmpdir(), 'shardctl-ci-n3-'))
    env = {ETCDCTL_ENDPOINTS: dp.endpoint, SHARDCTL_CLUSTER: dp.cluster, SHARDCTL_PLAN_KEY_FILE: join(cwd, 'ci-plan.key'), SHARDCTL_PLAN_PUB_FILE: join(cwd, 'ci-plan.pub')}
    const add = await runShardctl(['node', 'add', 'n3', '--address', '127.0.0.1:3'], env, cwd)
    expect(add.code, add.stderr).toBe(0)
    await dp.startNode('n3')
    const keygen = await runShardctl(['plan', 'keygen', '--out', join(cwd, 'ci-plan')], env, cwd)
    expect(keygen.code, keygen.stderr).toBe(0)
  }, 180_000)

  afterAll(async () => {
    await dp?.teardown()
    if (cwd) rmSync(cwd, {recursive: true, force: true})
  })

  it('plans with a markdown report and a signed plan, then applies it; a tampered plan is refused with exit 2', async () => {
    const plan = await runScript(['plan', 'out'], env, cwd)
    expect(plan.code, plan.stderr).toBe(0)
    expect(readFileSync(join(cwd, 'out/needs-rebalance'), 'utf8').trim()).toBe('true')
    expect(readFileSync(join(cwd, 'out/plan.md'), 'utf8')).toMatch(/^#|\|/m)
    const signed = readFileSync(join(cwd, 'out/plan.json'), 'utf8')
    expect(JSON.parse(signed)).toHaveProperty('signature')

    writeFileSync(join(cwd, 'out/plan.json'), signed.replace(/"bytes":\s*(\d+)/, (_, n) => `"bytes": ${Number(n) + 1}`))
    const tampered = await runScript(['apply', 'out'], env, cwd)
    expect(tampered.code).toBe(2)

    writeFileSync(join(cwd, 'out/plan.json'), signed)
    // SHARDCTL_PLAN_MAX_AGE bounds how long after signing the plan may run: the plan is seconds old.
    const tooOld = await runScript(['apply', 'out'], {...env, SHARDCTL_PLAN_MAX_AGE: '0s'}, cwd)
    expect(tooOld.code, tooOld.stderr).toBe(7)
    // --json: the error is the JSON line the script writes to apply.json.
    expect(readFileSync(join(cwd, 'out/apply.json'), 'utf8')).toMatch(/more than --max-plan-age 0s allows; nothing was recorded or changed/)
    const apply = await runScript(['apply', 'out'], {...env, SHARDCTL_PLAN_MAX_AGE: '1h'}, cwd)
    expect(apply.code, apply.stderr).toBe(0)
    const lines = readFileSync(join(cwd, 'out/apply.json'), 'utf8').trim().split('\n')
    const result = JSON.parse(lines.at(-1)!)
    expect(result).toMatchObject({type: 'result', stopped: false})
    expect(result.counts.done).toBeGreaterThan(0)

    // The pipeline run again (a retried deploy job): the gate judges the applied plan as apply
    // does ("applied already", exit 0), where it called every action stale (exit 7) while apply passed.
    const verify = await runShardctl(['plan', 'verify', join(cwd, 'out/plan.json'), '--require-signature', join(cwd, 'ci-plan.pub'), '--json'], env, cwd)
    expect(verify.code, verify.stderr).toBe(0)
    expect(JSON.parse(verify.stdout)).toMatchObject({applied: {moves: result.counts.done, unfinished: 0, unsuccessful: 0}})
    const again = await runScript(['apply', 'out'], env, cwd)
    expect(again.code, again.stderr).toBe(0)
  }, 600_000)
})

describe('rebalance.sh when the target is out of reach and the plan changes nothing', () => {
  // One key on a two-node cluster (the README's quick start): the node holding it is at 2x the
  // mean whatever moves, so `plan --check` exits 11 with a plan of no action. The script said
  // needs-rebalance=true for every 11, so the workflow asked for an approval on every
  // scheduled run, to apply a plan that does nothing.
  let dp: DataPlane
  let cwd: string
  let env: Record<string, string>

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'shardctl-ci-hot-'))
    dp = new DataPlane(inject('etcdEndpoint'), 'ci-hot')
    dp.statsInterval = '500ms'
    await dp.init(2, 8, 1)
    const router = await dp.startRouter('r1')
    await kv(router.address, 'PUT', 'hello', 'world')
    env = {ETCDCTL_ENDPOINTS: dp.endpoint, SHARDCTL_CLUSTER: dp.cluster, SHARDCTL_PLAN_KEY_FILE: join(cwd, 'ci-plan.key')}
    const keygen = await runShardctl(['plan', 'keygen', '--out', join(cwd, 'ci-plan')], env, cwd)
    expect(keygen.code, keygen.stderr).toBe(0)
    // Until the nodes publish the key's bytes the cluster has no load (exit 0): wait for the 11.
    for (let i = 0; i < 60; i++) {
      const check = await runShardctl(['plan', '--check', '--out', join(cwd, 'probe.json')], env, cwd)
      if (check.code === 11) return
      await new Promise((r) => setTimeout(r, 500))
    }
    throw new Error('plan --check never exited 11 (no load published?)')
  }, 180_000)

  afterAll(async () => {
    await dp?.teardown()
    if (cwd) rmSync(cwd, {recursive: true, force: true})
  })

  it('Given plan --check exits 11 with no action, Then needs-rebalance is false (nothing to approve) and the report is still written', async () => {
    const plan = await runScript(['plan', 'out'], env, cwd)
    expect(plan.code, plan.stderr).toBe(0)
    expect(plan.stderr).toMatch(/plan: exit 11, needs rebalance: false/)
    expect(readFileSync(join(cwd, 'out/needs-rebalance'), 'utf8').trim()).toBe('false')
    expect(JSON.parse(readFileSync(join(cwd, 'out/plan.json'), 'utf8')).actions).toEqual([])
    expect(readFileSync(join(cwd, 'out/plan.md'), 'utf8')).toMatch(/Target unreachable/)
  }, 300_000)
})

function runShardctl(args: string[], env: Record<string, string>, cwd: string): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {cwd, env: {PATH: process.env.PATH, HOME: cwd, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({code, stdout, stderr}))
  })
}
