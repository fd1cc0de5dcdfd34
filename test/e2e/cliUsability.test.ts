import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:http2'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {spawnCli} from '../support/cliChild.js'
import {runCli} from '../support/runCli.js'
import {StoreSet, uniqueCluster} from '../support/testStore.js'

/**
 * What an operator used to kubectl or etcdctl expects, on the real binary: -h, a
 * "did you mean" for a typo (exit 2, never a question), environment bindings on daemon
 * flags parsed by the same parsers as the flags, bad values refused with exit 2 before
 * anything runs, shell completion, and the config file in the CLI's config directory.
 */

let cwd: string
const stores = new StoreSet()
const cluster = uniqueCluster('usab')
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, {cwd, env, timeoutMs: 60_000})

beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-usability-'))
})
afterAll(() => {
  stores.closeAll()
  rmSync(cwd, {recursive: true, force: true})
})

describe('help and typos', () => {
  it('takes -h as --help', async () => {
    const r = await cli(['node', 'drain', '-h'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/USAGE\s+\$ shardctl node drain ID/)
  }, 60_000)

  it('answers a mistyped command with one line suggesting the real one, exit 2', async () => {
    const r = await cli(['nod', 'dran', 'n1'])
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/`shardctl nod dran( n1)?` is not a shardctl command — did you mean `shardctl node drain`\?/)
    expect(r.stdout).toBe('')
  }, 60_000)

  it('answers an unknown command with --json as every command answers a usage error with --json: the JSON error body on stdout, nothing on stderr, exit 2 (it printed the text line)', async () => {
    for (const [argv, error] of [
      [['nosuch', '--json'], {code: 'BAD_INPUT', message: '`shardctl nosuch` is not a shardctl command', hint: 'see `shardctl --help` for the commands', exitCode: 2}],
      [['cluster', 'status', 'extra', '--json'], {code: 'USAGE', message: 'Unexpected argument: extra', hint: 'see `shardctl cluster status --help`', exitCode: 2}],
    ] as const) {
      const r = await cli([...argv])
      expect(r.code, argv.join(' ')).toBe(2)
      expect(r.stderr, argv.join(' ')).toBe('')
      expect(JSON.parse(r.stdout), argv.join(' ')).toEqual({error})
    }
    // The same body a command gives for its own usage error with --json.
    const own = await cli(['stats', '--bogus', '--json'])
    expect(JSON.parse(own.stdout)).toEqual({error: {code: 'USAGE', message: 'Nonexistent flag: --bogus', hint: 'see `shardctl stats --help`', exitCode: 2}})
  }, 60_000)

  it('answers help about an unknown command (`help nosuch`, `nosuch --help`) as it answers the command itself: the same one line on stderr, exit 2, nothing on stdout (help printed oclif\'s `›   Error: Command nosuch not found.`)', async () => {
    for (const [help, direct] of [
      [['help', 'nosuch'], ['nosuch']],
      [['help', 'moves', 'shw'], ['moves', 'shw']],
      [['moves', 'shw', '--help'], ['moves', 'shw']],
    ] as const) {
      const [h, d] = await Promise.all([cli([...help]), cli([...direct])])
      expect(d.code, direct.join(' ')).toBe(2)
      expect(h.code, `${help.join(' ')}: ${h.stderr}`).toBe(2)
      expect(h.stdout, help.join(' ')).toBe('')
      expect(h.stderr.trim().split('\n'), help.join(' ')).toHaveLength(1)
      expect(h.stderr, help.join(' ')).toBe(d.stderr)
    }
    const r = await cli(['help', 'moves', 'shw'])
    expect(r.stderr.trim()).toBe('Error: `shardctl moves shw` is not a shardctl command — did you mean `shardctl moves show`? See `shardctl moves show --help`')
  }, 60_000)

  it('answers an argument to a command that takes none as that command\'s unexpected argument, one line, exit 2 (it said the command typed right was not a shardctl command)', async () => {
    for (const [argv, line] of [
      [['moves', 'resume', 'nosuch'], 'Error: Unexpected argument: nosuch — see `shardctl moves resume --help`'],
      [['cluster', 'status', 'extra'], 'Error: Unexpected argument: extra — see `shardctl cluster status --help`'],
    ] as const) {
      const r = await cli([...argv])
      expect(r.code, argv.join(' ')).toBe(2)
      expect(r.stdout, argv.join(' ')).toBe('')
      expect(r.stderr.trim(), argv.join(' ')).toBe(line)
    }
  }, 60_000)

  it('answers a flag or argument oclif\'s own help and autocomplete do not take as every command does: one line, exit 2, nothing on stdout (they printed `›` lines and their usage)', async () => {
    for (const [argv, line] of [
      [['help', '--bogus'], 'Error: Nonexistent flag: --bogus — see `shardctl help --help`'],
      [['autocomplete', '--bogus'], 'Error: Nonexistent flag: --bogus — see `shardctl autocomplete --help`'],
      [['autocomplete', 'fish'], 'Error: Expected fish to be one of: zsh, bash, powershell — see `shardctl autocomplete --help`'],
    ] as const) {
      const r = await cli([...argv])
      expect(r.code, `${argv.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stdout, argv.join(' ')).toBe('')
      expect(r.stderr.trim(), argv.join(' ')).toBe(line)
    }
  }, 60_000)

  it('prints shell completion setup', async () => {
    const r = await cli(['autocomplete', 'bash'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/shardctl autocomplete script bash/)
  }, 60_000)
})

describe('daemon flags and their environment variables', () => {
  it('refuses a bad duration from the environment with exit 2 naming the flag, before connecting anywhere', async () => {
    const r = await cli(['router', 'serve', '--endpoints', 'http://127.0.0.1:1'], {SHARDCTL_ROUTER_LEASE_TTL: '1'})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^Error: --lease-ttl: "1" is shorter than the minimum 2s/)
    const node = await cli(['node', 'serve', '--endpoints', 'http://127.0.0.1:1'], {SHARDCTL_NODE_ID: 'n1', SHARDCTL_NODE_DATA_DIR: cwd, SHARDCTL_NODE_LISTEN: 'localhost'})
    expect(node.code).toBe(2)
    expect(node.stderr).toMatch(/^Error: --listen: "localhost" is not HOST:PORT/)
  }, 60_000)

  it('refuses a duration past what one timer waits (24d) with exit 2 naming the flag, on every flag one timer waits, before connecting anywhere', async () => {
    const etcd = ['--endpoints', 'http://127.0.0.1:1']
    const node = ['node', 'serve', '--id', 'n1', '--listen', '127.0.0.1:0', '--data-dir', cwd, ...etcd]
    const router = ['router', 'serve', '--listen', '127.0.0.1:0', ...etcd]
    const autopilot = ['autopilot', ...etcd]
    const cases: [string[], string][] = [
      [node, '--stats-interval'], [node, '--lease-ttl'],
      [router, '--node-timeout'], [router, '--lease-ttl'], [router, '--report-interval'],
      [autopilot, '--interval'], [autopilot, '--lease-ttl'],
      [['stats', '--watch', ...etcd], '--interval'], [['stats', '--watch', ...etcd], '--for'],
      [['demo'], '--duration'],
    ]
    const results = await Promise.all(cases.map(async ([args, flag]) => ({flag, args: args.slice(0, 2).join(' '), r: await cli([...args, flag, '25d'])})))
    for (const {flag, args, r} of results) {
      const lines = r.stderr.trim().split('\n')
      expect({args, flag, code: r.code, lines: lines.length, refusal: lines[0]!.startsWith(`Error: ${flag}: "25d" is longer than the maximum 24d`)}).toEqual({args, flag, code: 2, lines: 1, refusal: true})
    }
    // 24d itself is a value one timer still waits: parsed, then etcd (unreachable here) is what fails.
    expect((await cli(['stats', '--watch', ...etcd, '--interval', '24d'])).code).toBe(3)
  }, 60_000)

  it('refuses a bad router --id with exit 2, one line saying what an id may hold and how to fix it, before connecting anywhere', async () => {
    const r = await cli(['router', 'serve', '--listen', '127.0.0.1:0', '--id', 'bad id', '--endpoints', 'http://127.0.0.1:1'])
    expect(r.code).toBe(2)
    expect(r.stderr.trim()).toBe('Error: router id "bad id" must be 1-64 letters, digits, "_", "." or "-" — pick an id such as r1, or leave --id out for <host>-<pid>')
  }, 60_000)

  it('refuses `stats --interval` without --watch as a usage error naming the fix, before connecting anywhere (it was silently ignored)', async () => {
    const r = await cli(['stats', '--interval', '2', '--endpoints', 'http://127.0.0.1:1'])
    expect(r.code, r.stderr).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr.trim()).toBe('Error: --interval needs --watch: without it one report is printed, once — add --watch, or leave --interval out')
    const json = await cli(['stats', '--interval', '2', '--json', '--endpoints', 'http://127.0.0.1:1'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toMatchObject({error: {code: 'BAD_INPUT', exitCode: 2}})
  }, 60_000)

  it('reads every unit the same way: `stats --interval 2x` is a usage error, not a bug', async () => {
    const r = await cli(['stats', '--interval', '2x', '--endpoints', 'http://127.0.0.1:1'])
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/--interval: "2x" is not a duration/)
    expect(r.stderr).not.toMatch(/bug/)
  }, 60_000)
})

describe('a cluster name that does not exist', () => {
  it('stats, user list and role list say so in one line, exit 1, as every other view does (they printed empty tables, exit 0)', async () => {
    const endpoint = inject('etcdEndpoint')
    const missing = uniqueCluster('usab-missing')
    for (const argv of [['stats'], ['user', 'list'], ['role', 'list']]) {
      const r = await cli([...argv, '--endpoints', endpoint, '--cluster', missing])
      expect(r.code, `${argv.join(' ')}: ${r.stdout}${r.stderr}`).toBe(1)
      expect(r.stdout, argv.join(' ')).toBe('')
      expect(r.stderr.trim().split('\n'), argv.join(' ')).toHaveLength(1)
      expect(r.stderr, argv.join(' ')).toMatch(new RegExp(`^Error: cluster "${missing}" does not exist in etcd — `))
    }
  }, 60_000)
})

describe('a cluster name that does not exist, on node commands', () => {
  it('every node command that names a node says the cluster does not exist, not the node (`node uncordon n1 --cluster typo` said node "n1" does not exist)', async () => {
    const endpoint = inject('etcdEndpoint')
    const missing = uniqueCluster('usab-nodes')
    const commands = [['node', 'cordon', 'n1'], ['node', 'uncordon', 'n1'], ['node', 'set', 'n1', '--zone', 'z9'], ['node', 'show', 'n1'], ['node', 'drain', 'n1', '--yes'], ['node', 'remove', 'n1'], ['node', 'list'], ['node', 'add', 'n1', '--address', '127.0.0.1:7001']]
    const runs = await Promise.all(commands.map((argv) => cli([...argv, '--endpoints', endpoint, '--cluster', missing])))
    const line = new RegExp(`^Error: cluster "${missing}" does not exist in etcd — [^\n]*\n$`)
    // Every command's answer at once, so a failure names each command that gets it wrong.
    const wrong = runs.map((r, i) => ({argv: commands[i]!.join(' '), ...r})).filter((r) => r.code !== 1 || r.stdout !== '' || !line.test(r.stderr))
    expect(wrong).toEqual([])
  }, 60_000)
})

describe('config file', () => {
  it("is found in the CLI's config directory (SHARDCTL_CONFIG_DIR)", async () => {
    const endpoint = inject('etcdEndpoint')
    const ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
    await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7201'), force: false})
    const dir = join(cwd, 'confdir')
    mkdirSync(dir)
    writeFileSync(join(dir, 'config.yaml'), `endpoints: ${endpoint}\ncluster: ${cluster}\n`)
    const r = await cli(['node', 'list', '--json'], {SHARDCTL_CONFIG_DIR: dir})
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).nodes.map((n: {id: string}) => n.id)).toEqual(['n1'])
    const without = await cli(['node', 'list', '--json', '--endpoints', 'http://127.0.0.1:1'], {SHARDCTL_CONFIG_DIR: dir})
    expect(without.code).toBe(3)
  }, 90_000)
})

describe('an etcd endpoint that is not etcd', () => {
  it('an HTTP/2 server answering 404 (a proxy, another service) is exit 3 with one line naming the endpoint and the fix, not "this is a bug"', async () => {
    const server = createServer((_req, res) => {
      res.statusCode = 404
      res.end('not here')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const r = await cli(['node', 'list', '--endpoints', url])
      expect(r.code, r.stderr).toBe(3)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toContain(`Error: etcd at ${url} (from --endpoints) answered, but not as etcd: Received HTTP status code 404 — point --endpoints / ETCDCTL_ENDPOINTS at an etcd client URL`)
      const json = await cli(['node', 'list', '--json', '--endpoints', url])
      expect(json.code).toBe(3)
      expect(JSON.parse(json.stdout).error).toMatchObject({code: 'ETCD_UNREACHABLE', exitCode: 3})
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }, 90_000)
})

describe('router serve without --id', () => {
  it('logs under the id it registers and prints (<host>-<pid>), not "router": null', async () => {
    const endpoint = inject('etcdEndpoint')
    const named = uniqueCluster('rid')
    const ctx = makeServiceContext(stores.open(endpoint, named), {cluster: named})
    await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7203'), force: false})
    const router = spawnCli(['router', 'serve', '--endpoints', endpoint, '--cluster', named, '--listen', '127.0.0.1:0', '--lease-ttl', '3'])
    try {
      const deadline = Date.now() + 60_000
      let id: string | undefined
      while (!(id = /^router (\S+) serving/m.exec(router.stdout())?.[1])) {
        if (router.gone() || Date.now() > deadline) throw new Error(`router did not serve: ${router.logs().slice(-2000)}`)
        await new Promise((r) => setTimeout(r, 100))
      }
      // SIGTERM makes it log its drain: at least one line whatever the etcd version.
      router.signal('SIGTERM')
      await Promise.race([router.exited, new Promise((r) => setTimeout(r, 30_000))])
      const lines = router.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as {router: unknown; msg: string})
      expect(lines.some((l) => /SIGTERM: draining/.test(l.msg)), router.logs()).toBe(true)
      for (const line of lines) expect(line.router, line.msg).toBe(id)
    } finally {
      await router.kill()
    }
  }, 90_000)
})
