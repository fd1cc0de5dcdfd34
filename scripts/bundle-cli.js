// Bundles the CLI's commands (dist/commands/**, as tsc built them) into dist/cli/: one ESM
// entry per command plus shared chunks (esbuild code splitting), then points
// oclif.manifest.json's entries at them. Why: a status view spent ~0.35 s of its ~1 s of
// CPU in Node's module loader, resolving and compiling hundreds of small files one by one
// (our modules, etcd3, grpc-js, protobufjs, zod); a handful of chunks load in a fraction of
// that. A command loads its entry and the chunks it imports statically, which hold exactly
// the modules it reaches (splitting groups modules by the set of entries that reach them);
// dynamic imports (top's dashboard) become chunks loaded only when called.
//
// What stays outside the bundle:
// - @oclif/* (bin/run.js has loaded it already; one copy of its Command class);
// - native and optional packages (better-sqlite3, lmdb, react-devtools-core);
// - commands that reach a module of ours that finds files next to itself through
//   import.meta.url (a node's writer thread, the demo's child processes): moved into a
//   chunk, it would look in dist/cli/chunks/. Those commands keep running from
//   dist/commands, and this script says which.
// etcd3 reads its gRPC definitions from ../proto/rpc.proto at load time; in the bundle that
// module gets them from a JSON descriptor parsed here, at build time (no .proto text parser
// at run time, and no __dirname).
//
// Run by `npm run build` after tsc and scripts/manifest.js. It also writes
// dist/cli/meta.json (esbuild's metafile: which source modules each output file holds),
// which test/e2e/cliStartup.test.ts reads to check what a command really loads.
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join, relative, sep} from 'node:path'
import {fileURLToPath} from 'node:url'
import * as esbuild from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const commandsDir = join(dist, 'commands')
const outdir = join(dist, 'cli')
const manifestPath = join(root, 'oclif.manifest.json')
const require = createRequire(import.meta.url)

rmSync(outdir, {recursive: true, force: true})
if (!existsSync(commandsDir) || !existsSync(manifestPath)) {
  console.error('bundle-cli: dist/commands or oclif.manifest.json is missing; run tsc and scripts/manifest.js first')
  process.exit(1)
}

/** jsFiles lists the .js files under `dir`, recursively. */
function jsFiles(dir) {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []))
}

/**
 * locationDependent tells whether a module of ours (a dist/ file) finds files next to itself
 * through import.meta: such a module must not move into a chunk. `createRequire(import.meta.url)`
 * alone is fine (it resolves packages, and node_modules is above dist/cli too).
 */
function locationDependent(file) {
  if (!file.startsWith(dist + sep) || file.includes(`${sep}node_modules${sep}`) || LOAD_TOP_SESSION.test(file)) return false
  return /import\.meta/.test(readFileSync(file, 'utf8').replaceAll('createRequire(import.meta.url)', ''))
}

/** etcdProtoDescriptor loads etcd3's rpc.proto once, here, as protobufjs JSON (what proto-loader's fromJSON takes). */
function etcdProtoDescriptor() {
  const protobuf = require('protobufjs')
  const protoFile = join(dirname(require.resolve('etcd3/package.json')), 'proto', 'rpc.proto')
  const rootNs = new protobuf.Root()
  rootNs.loadSync(protoFile, {keepCase: true})
  return rootNs.toJSON({keepComments: false})
}

/**
 * etcdProtoPrecompiled replaces etcd3's `loadSync(`${__dirname}/../proto/rpc.proto`, options)`
 * with `fromJSON(descriptor, options)` (same options, same package definition). The build
 * fails if etcd3's source no longer has that call, rather than bundling a module that reads
 * a path which does not exist in the bundle.
 */
function etcdProtoPrecompiled(descriptor) {
  const call = 'loadSync)(`${__dirname}/../proto/rpc.proto`,'
  return {
    name: 'etcd-proto-precompiled',
    setup(build) {
      build.onLoad({filter: /[\\/]node_modules[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/}, (args) => {
        const source = readFileSync(args.path, 'utf8')
        if (!source.includes(call)) throw new Error(`bundle-cli: etcd3's connection-pool.js no longer calls ${call} (etcd3 upgraded?): update scripts/bundle-cli.js`)
        return {contents: source.replace(call, `fromJSON)(${JSON.stringify(descriptor)},`), loader: 'js'}
      })
    },
  }
}

/** noDevtools drops ink's React DevTools hook: it loads only with DEV=true and needs react-devtools-core, which is not installed. */
const noDevtools = {
  name: 'no-devtools',
  setup(build) {
    build.onResolve({filter: /^\.\/devtools\.js$/}, (args) => (args.importer.includes(`${sep}node_modules${sep}ink${sep}`) ? {path: 'devtools', namespace: 'no-devtools'} : undefined))
    build.onLoad({filter: /.*/, namespace: 'no-devtools'}, () => ({contents: 'export {}', loader: 'js'}))
  },
}

/**
 * topSessionInBundle: `top` picks the dashboard's one-file bundle or its module by file
 * dates next to itself (src/tui/loadTopSession.ts, through import.meta.url); inside this
 * bundle the dashboard is simply a lazily loaded chunk.
 */
const LOAD_TOP_SESSION = /[\\/]dist[\\/]src[\\/]tui[\\/]loadTopSession\.js$/
const topSessionInBundle = {
  name: 'top-session-in-bundle',
  setup(build) {
    build.onLoad({filter: LOAD_TOP_SESSION}, (args) => ({
      resolveDir: dirname(args.path),
      contents: "/** loadTopSession imports the dashboard, a chunk of the CLI bundle. */\nexport function loadTopSession() {\n  return import('./topSession.js')\n}\n",
      loader: 'js',
    }))
  },
}

const options = {
  absWorkingDir: root,
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir,
  outbase: dist,
  entryNames: '[dir]/[name]',
  chunkNames: 'chunks/[name]-[hash]',
  external: ['@oclif/*', 'better-sqlite3', 'lmdb', 'react-devtools-core'],
  plugins: [etcdProtoPrecompiled(etcdProtoDescriptor()), noDevtools, topSessionInBundle],
  // Bundled CommonJS packages call require(); ESM output has none of its own.
  banner: {js: "import {createRequire as __bundleRequire} from 'node:module'; const require = __bundleRequire(import.meta.url);"},
  metafile: true,
  logLevel: 'warning',
}

// Pass 1 (nothing written): which commands reach a location-dependent module of ours.
const all = jsFiles(commandsDir)
const probe = await esbuild.build({...options, entryPoints: all, write: false})
const reach = reachByEntry(probe.metafile)
const excluded = all.filter((entry) => [...(reach.get(relative(root, entry).split(sep).join('/')) ?? [])].some((input) => locationDependent(join(root, input))))
const entries = all.filter((e) => !excluded.includes(e))

// Pass 2: the bundle of every other command.
const result = await esbuild.build({...options, entryPoints: entries})
mkdirSync(outdir, {recursive: true})
writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile))

// Point the manifest's bundled commands at their bundle (oclif loads `relativePath` from the root).
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'))
let bundled = 0
for (const cmd of Object.values(manifest.commands)) {
  const file = join(root, ...cmd.relativePath)
  if (!entries.includes(file)) continue
  cmd.relativePath = relative(root, join(outdir, relative(dist, file))).split(sep)
  bundled++
}
writeFileSync(manifestPath, JSON.stringify(manifest))
const unbundled = excluded.map((e) => relative(commandsDir, e)).join(', ')
console.error(`bundle-cli: ${bundled} commands bundled into dist/cli${unbundled ? `; unbundled (a module they reach uses import.meta): ${unbundled}` : ''}`)

/**
 * reachByEntry maps each entry point (its input path, relative to the root) to every input
 * module its output may load: its own and those of the chunks it imports, statically or
 * dynamically, transitively.
 */
function reachByEntry(metafile) {
  const outputs = metafile.outputs
  const byEntry = new Map()
  for (const [, out] of Object.entries(outputs)) {
    if (!out.entryPoint) continue
    const inputs = new Set()
    const seen = new Set()
    const visit = (o) => {
      for (const input of Object.keys(o.inputs)) inputs.add(input)
      for (const imp of o.imports) {
        if (imp.external || seen.has(imp.path)) continue
        seen.add(imp.path)
        const next = outputs[imp.path]
        if (next) visit(next)
      }
    }
    visit(out)
    byEntry.set(out.entryPoint, inputs)
  }
  return byEntry
}
