import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {getNode} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {EXIT_CODES} from '../../src/errors/codes.js'
import {listMoves} from '../../src/executor/moveStore.js'
import {getClusterSecurity, setClusterSecurity} from '../../src/security/clusterSecurity.js'
import {trackPid, untrackPid} from '../support/processReaper.js'
import {answerInPty, HAS_SCRIPT as hasScript} from '../support/pty.js'
import {CLI_BIN, runCli} from '../support/runCli.js'
import {etcdAdminClient, StoreSet, uniqueCluster} from '../support/testStore.js'

/**
 * Exit codes of commands that change the cluster, run as a user runs them: the real binary
 * against a real etcd, without a terminal (CI) and in a pseudo-terminal (util-linux
 * `script`) where an operator answers the question. Four nodes are registered and marked
 * alive (no node processes: the moves are recorded, then cannot copy), so a drain of n1
 * has a feasible plan.
 */

const stores = new StoreSet()
const cluster = uniqueCluster('exit')
let endpoint: string
let ctx: ServiceContext
let cwd: string
const conn = () => ['--endpoints', endpoint, '--cluster', cluster]


beforeAll(async () => {
  endpoint = inject('etcdEndpoint')
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-exit-'))
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  await initCluster(ctx, {shards: 8, rf: 3, nodes: parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b,n3=127.0.0.1:7103@c,n4=127.0.0.1:7104@a'), force: false})
  for (const id of ['n1', 'n2', 'n3', 'n4']) {
    await ctx.store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: `127.0.0.1:710${id.slice(1)}`, pid: 1, startedAt: new Date().toISOString()}))
  }
}, 60_000)

afterAll(() => {
  stores.closeAll()
  rmSync(cwd, {recursive: true, force: true})
})

describe('without a terminal and without --yes', () => {
  it('node drain refuses with exit 2, one line naming --yes, and leaves the node as it was', async () => {
    const r = await runCli(['node', 'drain', 'n1', ...conn()], {cwd, timeoutMs: 90_000})
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/refusing to run moves without confirmation: stdin is not a terminal.*pass --yes/)
    expect((await getNode(ctx, 'n1')).value.state).toBe('active')
    expect(await listMoves(ctx)).toHaveLength(0)
  }, 120_000)

  it('apply --resume refuses with exit 2 as well', async () => {
    const r = await runCli(['apply', '--resume', ...conn()], {cwd, timeoutMs: 90_000})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/pass --yes/)
  }, 120_000)
})

describe('a flag a command does not have', () => {
  it('is refused by the commands that print a JSON Schema as by every other: exit 2, one line naming it, nothing on stdout (they printed the schema, exit 0)', async () => {
    for (const command of [['plan', 'schema'], ['snapshot', 'schema']]) {
      for (const bad of ['--bogus', '--json']) {
        const r = await runCli([...command, bad], {cwd, timeoutMs: 90_000})
        expect(r.code, `${command.join(' ')} ${bad}: ${r.stderr}`).toBe(2)
        expect(r.stdout).toBe('')
        expect(r.stderr.trim()).toBe(`Error: Nonexistent flag: ${bad} — see \`shardctl ${command.join(' ')} --help\``)
      }
      const good = await runCli(command, {cwd, timeoutMs: 90_000})
      expect(good.code, good.stderr).toBe(0)
      expect(JSON.parse(good.stdout)).toHaveProperty('$id')
    }
  }, 180_000)
})

describe('kv put', () => {
  it('refuses a VALUE argument together with --file (exit 2) instead of silently preferring one', async () => {
    writeFileSync(join(cwd, 'value.bin'), 'from-file')
    const r = await runCli(['kv', 'put', 'k1', 'from-arg', '--file', join(cwd, 'value.bin'), ...conn()], {cwd, timeoutMs: 90_000})
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/both a VALUE argument and --file .* were given; nothing was written/)
  }, 120_000)

  it('names a --file it cannot read and how to fix it (exit 2), in the one-line `Error: what — fix` form', async () => {
    const r = await runCli(['kv', 'put', 'k1', '--file', join(cwd, 'missing.bin'), ...conn()], {cwd, timeoutMs: 90_000})
    expect(r.code).toBe(2)
    expect(r.stderr.trim()).toBe(`Error: cannot read --file ${join(cwd, 'missing.bin')}: no such file; nothing was written — check the path, or pass the value as an argument or on stdin`)
  }, 120_000)

  it('refuses a --router that is not host:port (a URL) with exit 2 naming the flag, instead of dialing it and calling it unreachable (exit 17)', async () => {
    const r = await runCli(['kv', 'put', 'k1', 'v', '--router', 'http://127.0.0.1:7100', ...conn()], {cwd, timeoutMs: 90_000})
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr.trim()).toBe('Error: --router: "http://127.0.0.1:7100" is not HOST:PORT (a router address such as 127.0.0.1:7100, without a scheme) — see `shardctl kv put --help`')
  }, 120_000)
})

describe.skipIf(!hasScript)('an operator at a terminal', () => {
  it('answering N to node drain exits 19 (declined), records nothing and leaves the node active; the question is on the terminal, not in --json stdout', async () => {
    const out = join(cwd, 'drain.json')
    const {code, screen} = await answerInPty(cwd, `exec ${process.execPath} ${CLI_BIN} node drain n1 ${conn().join(' ')} --json > ${out}`, /Drain n1\? \[y\/N\]/, 'n\r')
    expect(code).toBe(EXIT_CODES.DECLINED)
    expect(code).toBe(19)
    expect(screen).toMatch(/move shard \d+ n1 → n\d/)
    const stdout = readFileSync(out, 'utf8')
    expect(stdout).not.toMatch(/\[y\/N\]/)
    expect(JSON.parse(stdout)).toMatchObject({error: {code: 'DECLINED', exitCode: 19}})
    expect((await getNode(ctx, 'n1')).value.state).toBe('active')
    expect(await listMoves(ctx)).toHaveLength(0)
  }, 120_000)
})

describe('a run that is stopped', () => {
  it('node drain --yes stopped by SIGTERM after recording its moves exits 130 and says what is left to resume', async () => {
    const child = spawn(process.execPath, [CLI_BIN, 'node', 'drain', 'n1', '--yes', ...conn()], {cwd, env: {PATH: process.env.PATH, HOME: cwd}, stdio: ['ignore', 'pipe', 'pipe']})
    trackPid(child.pid)
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.stdout.resume()
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
    try {
      const deadline = Date.now() + 60_000
      while ((await listMoves(ctx)).length === 0) {
        if (Date.now() > deadline) throw new Error(`no move recorded; stderr: ${stderr}`)
        await new Promise((r) => setTimeout(r, 100))
      }
      child.kill('SIGTERM')
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))])
      expect(code, stderr).toBe(EXIT_CODES.INTERRUPTED)
      const unfinished = (await listMoves(ctx)).filter((m) => !['done', 'aborted', 'skipped', 'failed', 'rolledback'].includes(m.value.phase)).length
      if (unfinished > 0) expect(stderr).toMatch(new RegExp(`Interrupted: ${unfinished} recorded move\\(s\\) unfinished.*apply --resume`))
      else expect(stderr).toMatch(/nothing to resume/)
      // Something started, so the node stays draining: nothing may be placed back on it.
      expect((await getNode(ctx, 'n1')).value.state).toBe('draining')
    } finally {
      child.kill('SIGKILL')
      untrackPid(child.pid)
    }
  }, 120_000)

  it.skipIf(!hasScript)('answering N to apply --resume exits 19 and leaves every recorded move as it was', async () => {
    const before = (await listMoves(ctx)).map((m) => [m.value.id, m.value.phase, m.value.updatedAt])
    const {code, screen} = await answerInPty(cwd, `exec ${process.execPath} ${CLI_BIN} apply --resume ${conn().join(' ')}`, /Resume unfinished moves\? \[y\/N\]/, 'n\r')
    expect(code).toBe(19)
    expect(screen).toMatch(/declined: nothing was recorded or changed/)
    expect((await listMoves(ctx)).map((m) => [m.value.id, m.value.phase, m.value.updatedAt])).toEqual(before)
  }, 120_000)
})

describe('moves cancel', () => {
  it('refuses a move that has cut over with exit 1 and one line saying what to do instead, changing nothing; a cancellable one is accepted', async () => {
    const at = new Date().toISOString()
    const record = (id: string, phase: string) => ({id, plan: 'manual', index: 0, shard: 0, from: 'n1', to: 'n4', baseEpoch: 1, epoch: 1, phase, progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}, cancelRequested: false, rollbackRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null})
    try {
      await ctx.store.put(ctx.keys.move('manual-cut-over'), JSON.stringify(record('manual-cut-over', 'draining')))
      await ctx.store.put(ctx.keys.move('manual-copying'), JSON.stringify(record('manual-copying', 'copying')))
      const before = (await ctx.store.get(ctx.keys.move('manual-cut-over')))!.modRevision
      const refused = await runCli(['moves', 'cancel', 'manual-cut-over', ...conn()], {cwd, timeoutMs: 90_000})
      expect(refused.code).toBe(EXIT_CODES.PRECONDITION)
      expect(refused.stderr.trim().split('\n')).toHaveLength(1)
      expect(refused.stderr).toMatch(/move manual-cut-over has cut over \(phase draining\) and cannot be cancelled.*moves rollback manual-cut-over/)
      expect((await ctx.store.get(ctx.keys.move('manual-cut-over')))!.modRevision).toBe(before)
      const accepted = await runCli(['moves', 'cancel', 'manual-copying', ...conn()], {cwd, timeoutMs: 90_000})
      expect(accepted.code).toBe(0)
      expect(JSON.parse((await ctx.store.get(ctx.keys.move('manual-copying')))!.value).cancelRequested).toBe(true)
    } finally {
      await ctx.store.delete(ctx.keys.move('manual-cut-over'))
      await ctx.store.delete(ctx.keys.move('manual-copying'))
    }
  }, 120_000)
})

describe('cluster security', () => {
  it.skipIf(!hasScript)('asks before turning a switch on, saying whom it locks out: N exits 19 and changes nothing, y turns it on', async () => {
    const declined = await answerInPty(cwd, `exec ${process.execPath} ${CLI_BIN} cluster security --tls-only --auth ${conn().join(' ')}`, /Turn on tls-only and auth for cluster "[^"]+"\? \[y\/N\]/, 'n\r')
    expect(declined.code, declined.screen).toBe(EXIT_CODES.DECLINED)
    expect(declined.screen).toContain('tls-only: nodes, routers, the executor and repair without --tls-cert/--tls-key/--tls-ca refuse to start')
    expect(declined.screen).toContain('auth: within about a second, routers answer 401')
    expect(declined.screen).toMatch(/declined: the security settings were left as they were/)
    expect(await getClusterSecurity(ctx)).toMatchObject({tlsOnly: false, authRequired: false})
    try {
      const accepted = await answerInPty(cwd, `exec ${process.execPath} ${CLI_BIN} cluster security --auth ${conn().join(' ')}`, /Turn on auth for cluster "[^"]+"\? \[y\/N\]/, 'y\r')
      expect(accepted.code, accepted.screen).toBe(0)
      expect(accepted.screen).toContain('now: tls-only off, authentication on')
      expect(await getClusterSecurity(ctx)).toMatchObject({tlsOnly: false, authRequired: true})
    } finally {
      await setClusterSecurity(ctx, {authRequired: false})
    }
  }, 150_000)
})

/** clusterKeys is every key and value of this file's cluster, to show a refused command wrote nothing. */
async function clusterKeys(): Promise<Record<string, string>> {
  const client = etcdAdminClient(endpoint)
  try {
    return await client.getAll().prefix(`/shardctl/${cluster}/`).strings()
  } finally {
    client.close()
  }
}

describe('a number written in another notation than decimal', () => {
  // Number() read them: reads=0x10 was stored as capacity 16, --max-imbalance 0x10 planned to a band of 16x, exit 0.
  it('is refused with exit 2 and one line naming the flag, and nothing is written', async () => {
    const before = await clusterKeys()
    const out = join(cwd, 'hex-plan.json')
    const cases: [string[], RegExp][] = [
      [['node', 'add', 'n9', '--address', '127.0.0.1:7109', '--capacity', 'reads=0x10'], /--capacity: capacity reads must be a number > 0, got "0x10"/],
      [['node', 'set', 'n1', '--capacity', 'writes=1e3'], /--capacity: capacity writes must be a number > 0, got "1e3"/],
      [['plan', '--max-imbalance', '0x10', '--out', out], /--max-imbalance: max imbalance must be a number, got "0x10"/],
      [['plan', '--weights', 'reads=0b1', '--out', out], /--weights: weight reads must be a finite number >= 0, got "0b1"/],
      [['top', '--target', '0x10', '--json'], /--target must be a number >= 1, got "0x10"/],
      [['top', '--target', 'Infinity', '--json'], /--target must be a number >= 1, got "Infinity"/],
    ]
    for (const [args, message] of cases) {
      const r = await runCli([...args, ...conn()], {cwd, timeoutMs: 90_000})
      const body = JSON.parse(r.stdout || '{}') as {error?: {message?: string; exitCode?: number}}
      const text = args.includes('--json') ? (body.error?.message ?? '') : r.stderr
      expect(r.code, `${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(2)
      expect(text, args.join(' ')).toMatch(message)
      if (!args.includes('--json')) expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
    }
    expect(existsSync(out)).toBe(false)
    expect(await clusterKeys()).toEqual(before)
  }, 240_000)
})

describe('apply given both a plan file and --resume', () => {
  // --resume was dropped without a word: the plan ran, the other plans' unfinished moves did not.
  it('refuses with exit 2 and one line saying to take one at a time, recording nothing', async () => {
    const planFile = join(cwd, 'both.json')
    expect((await runCli(['plan', '--out', planFile, ...conn()], {cwd, timeoutMs: 90_000})).code).toBe(0)
    const before = await clusterKeys()
    const r = await runCli(['apply', planFile, '--resume', '--yes', ...conn()], {cwd, timeoutMs: 90_000})
    expect(r.code, r.stderr + r.stdout).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/^Error: apply takes a plan file or --resume, not both: .* — run `shardctl apply --resume` first, then `shardctl apply PLAN`/)
    // Unchanged keys: no move recorded (earlier tests of this file leave moves of their own).
    expect(await clusterKeys()).toEqual(before)
  }, 180_000)
})
