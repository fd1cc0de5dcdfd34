import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {Plugin} from '@oclif/core'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {runCli} from '../support/runCli.js'
import {uniqueCluster} from '../support/testStore.js'

/**
 * The CLI's own start-up is the floor under every command (issue 19: status views answer
 * in under 1 s at 100k shards). These run the real binary with a module tracer preloaded
 * and check what it actually loaded: a status view loads only its own command (so the
 * oclif manifest is there and current) and none of the heavy modules other commands need
 * (Ink and React for the TUI, ioredis for redis clusters, the YAML parser without a config
 * file, the planner). Commands run from their esbuild bundle in dist/cli (scripts/bundle-cli.js):
 * the tracer sees the bundle's files, and dist/cli/meta.json says which source modules each
 * holds, so the checks below see through the bundle. A missing or stale bundle (the CLI
 * falling back to dist/commands, one module file at a time) fails them. Needs dist/ and
 * oclif.manifest.json (`npm run build`).
 */

const root = resolve(import.meta.dirname, '../..')
const TRACER = resolve(import.meta.dirname, '../support/moduleTrace.mjs')
const NODES = 'n1=127.0.0.1:7001@a,n2=127.0.0.1:7002@b,n3=127.0.0.1:7003@c'
const cluster = uniqueCluster('startup')
let cwd: string
let endpoint: string

/** HEAVY names what a light command must not load, as substrings of module paths. */
const HEAVY = ['/node_modules/ink/', '/node_modules/react/', '/node_modules/ioredis/', '/node_modules/yaml/', '/dist/src/planner/', '/dist/src/tui/', '/dist/src/executor/executePlan']

/** traced runs `shardctl args` with the tracer and returns its result and every module path it loaded. */
async function traced(args: string[]): Promise<{code: number; stderr: string; modules: string[]}> {
  const out = join(cwd, `trace-${Math.random().toString(36).slice(2)}.txt`)
  const r = await runCli(args, {cwd, env: {NODE_OPTIONS: `--import ${TRACER}`, SHARDCTL_MODULE_TRACE: out}, timeoutMs: 60_000})
  const modules = existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((m) => m.replace(/^file:\/\//, '')) : []
  return {code: r.code, stderr: r.stderr, modules}
}

const commandFiles = (modules: string[]) => [...new Set(modules.filter((m) => /\/dist\/(cli\/)?commands\//.test(m)).map((m) => m.slice(m.indexOf('/dist/') + 1)))]

/** Metafile is the part of esbuild's metafile (dist/cli/meta.json) these checks read. */
interface Metafile {
  outputs: Record<string, {inputs: Record<string, unknown>}>
}

/**
 * sources maps every file a run loaded to the source modules it stands for: a bundle file to
 * the modules inside it (from dist/cli/meta.json), any other file to itself. Paths start with
 * `/` so that HEAVY's substrings match both.
 */
function sources(modules: string[]): string[] {
  const meta = JSON.parse(readFileSync(join(root, 'dist', 'cli', 'meta.json'), 'utf8')) as Metafile
  return modules.flatMap((m) => {
    const at = m.indexOf('/dist/cli/')
    if (at < 0) return [m]
    const output = meta.outputs[m.slice(at + 1)]
    if (!output) throw new Error(`${m} was loaded but is not in dist/cli/meta.json: the bundle is stale; run \`npm run build\``)
    return Object.keys(output.inputs).map((input) => `/${input}`)
  })
}

/** unbundledOwnModules lists the files of ours a run loaded outside the bundle (bin/ aside). */
const unbundledOwnModules = (modules: string[]) => modules.filter((m) => m.startsWith(`${root}/dist/`) && !m.startsWith(`${root}/dist/cli/`))

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-startup-'))
  endpoint = inject('etcdEndpoint')
  const init = await runCli(['cluster', 'init', '--endpoints', endpoint, '--cluster', cluster, '--shards', '16', '--rf', '3', '--nodes', NODES], {cwd})
  if (init.code !== 0) throw new Error(`cluster init failed: ${init.stderr}`)
}, 60_000)
afterAll(() => rmSync(cwd, {recursive: true, force: true}))

describe('CLI start-up', () => {
  it('Given the built CLI, When oclif.manifest.json is read, Then it lists exactly the commands a fresh scan of dist/commands finds', async () => {
    const manifestPath = join(root, 'oclif.manifest.json')
    expect(existsSync(manifestPath), 'oclif.manifest.json is missing: `npm run build` writes it').toBe(true)
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {commands: Record<string, unknown>}
    const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true})
    await plugin.load()
    const fresh = Object.keys(plugin.manifest.commands).sort()
    expect(fresh.length).toBeGreaterThan(40)
    expect(Object.keys(manifest.commands).sort()).toEqual(fresh)
  }, 60_000)

  it('Given the built CLI, When the manifest says where each command loads from, Then every command runs from its bundle in dist/cli', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {relativePath: string[]}>}
    const fromDist = Object.entries(manifest.commands)
      .filter(([, c]) => c.relativePath.slice(0, 3).join('/') !== 'dist/cli/commands')
      .map(([id]) => id)
    expect(fromDist).toEqual([])
    for (const [id, c] of Object.entries(manifest.commands)) expect(existsSync(join(root, ...c.relativePath)), `${id}: ${c.relativePath.join('/')} is missing`).toBe(true)
  })

  it('Given the tracer, When `apply` runs against a cluster that does not exist, Then the trace shows its command file and heavy modules (the check below can fail)', async () => {
    const r = await traced(['apply', join(cwd, 'no-such-plan.json'), '--endpoints', endpoint, '--cluster', uniqueCluster('absent')])
    expect(r.code).not.toBe(0)
    expect(commandFiles(r.modules)).toEqual(['dist/cli/commands/apply.js'])
    expect(sources(r.modules).filter((m) => HEAVY.some((h) => m.includes(h))).length).toBeGreaterThan(0)
  }, 60_000)

  it('Given `top --json` (no screen), When it runs, Then it loads neither ink nor react: the dashboard is imported only to draw', async () => {
    const r = await traced(['top', '--endpoints', endpoint, '--cluster', cluster, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(commandFiles(r.modules)).toEqual(['dist/cli/commands/top.js'])
    expect(sources(r.modules).filter((m) => m.includes('/node_modules/ink/') || m.includes('/node_modules/react/') || m.includes('topSession'))).toEqual([])
  }, 60_000)

  it('Given `--version`, When it runs, Then it loads no command file at all (discovery comes from the manifest) and oclif from its bundle', async () => {
    const r = await traced(['--version'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.modules.filter((m) => m.includes('/node_modules/@oclif/core/') && !m.endsWith('/package.json'))).toEqual([])
    expect(sources(r.modules).some((m) => m.includes('/node_modules/@oclif/core/'))).toBe(true)
    expect(commandFiles(r.modules)).toEqual([])
    expect(unbundledOwnModules(r.modules)).toEqual([])
  }, 60_000)

  for (const args of [['cluster', 'status'], ['node', 'list'], ['node', 'show', 'n1'], ['moves', 'list'], ['shard', 'list', '--limit', '3']]) {
    it(`Given a kv cluster and no config file, When \`${args.join(' ')}\` runs, Then it loads only its own command and no heavy module`, async () => {
      const r = await traced([...args, '--endpoints', endpoint, '--cluster', cluster, '--json'])
      expect(r.code, r.stderr).toBe(0)
      const loaded = sources(r.modules)
      // The tracer worked: the etcd client was seen (inside the bundle).
      expect(loaded.some((m) => m.includes('/node_modules/etcd3/'))).toBe(true)
      expect(commandFiles(r.modules)).toEqual([`dist/cli/commands/${args[0]}-${args[1]}.js`])
      // Everything of ours came from the bundle: no fallback to one file per module.
      expect(unbundledOwnModules(r.modules)).toEqual([])
      expect(r.modules.filter((m) => /\/node_modules\/(@oclif\/core|etcd3|@grpc|protobufjs|zod)\/.*\.[cm]?js$/.test(m))).toEqual([])
      // Dozens of files, not hundreds of modules (37 for cluster status when written, 12 of
      // them Node's built-ins; 195 before the bundle).
      expect(r.modules.length).toBeLessThanOrEqual(80)
      expect(loaded.filter((m) => HEAVY.some((h) => m.includes(h)))).toEqual([])
    }, 60_000)
  }
})
