// Bundles the CLI (dist/commands/**, as tsc built them, and @oclif/core) into dist/cli/: one
// ESM entry per command (dist/cli/commands/<topic>-<name>.js), oclif's own entry
// (dist/cli/core/oclif.js, which bin/run.js imports) and shared chunks (esbuild code
// splitting), then points oclif.manifest.json's entries at them. Why: a status view spent
// ~0.35 s of its ~1 s of CPU in Node's module loader, resolving and compiling hundreds of
// small files one by one (oclif's ~160 CommonJS files, our modules, etcd3, grpc-js,
// protobufjs, zod); a handful of chunks load in a fraction of that. A command loads its entry
// and the chunks it imports statically, which hold exactly the modules it reaches (splitting
// groups modules by the set of entries that reach them); dynamic imports (top's dashboard)
// become chunks loaded only when called. oclif is in the same graph, so commands and
// bin/run.js share one copy of its classes.
//
// Files found beside a module keep working: every output file sits two directories below
// dist/cli, so `import.meta.url` in a module of ours and `__dirname`/`__filename` in oclif
// are rewritten to the module's original location, computed from the output file's own URL
// (a node's writer thread still starts dist/src/node/writerThread.js, in its own thread; the
// demo still finds bin/run.js). Any other use of import.meta in our code fails the build.
// What stays outside: oclif's plugins (loaded by oclif from node_modules), native and
// optional packages (better-sqlite3, lmdb, react-devtools-core), typescript (oclif's dev mode).
// etcd3 reads its gRPC definitions from ../proto/rpc.proto at load time; in the bundle that
// module gets them from a JSON descriptor parsed here, at build time (no .proto text parser
// at run time).
//
// Run by `npm run build` after tsc and `scripts/manifest.js dist/oclif.manifest.unbundled.json`,
// as its last step. It also writes
// dist/cli/meta.json (esbuild's metafile: which source modules each output file holds),
// which bin/freshManifest.js checks for and test/e2e/cliStartup.test.ts reads to check what
// a command really loads.
import {existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join, relative, sep} from 'node:path'
import {fileURLToPath} from 'node:url'
import * as esbuild from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const commandsDir = join(dist, 'commands')
const outdir = join(dist, 'cli')
/** unbundledManifestPath is what scripts/manifest.js wrote (commands in dist/commands); manifestPath is what oclif reads. */
const unbundledManifestPath = join(dist, 'oclif.manifest.unbundled.json')
const manifestPath = join(root, 'oclif.manifest.json')
const require = createRequire(import.meta.url)

rmSync(outdir, {recursive: true, force: true})
if (!existsSync(commandsDir) || !existsSync(unbundledManifestPath)) {
  console.error('bundle-cli: dist/commands or dist/oclif.manifest.unbundled.json is missing; run tsc and `node scripts/manifest.js dist/oclif.manifest.unbundled.json` first')
  process.exit(1)
}

/** jsFiles lists the .js files under `dir`, recursively. */
function jsFiles(dir) {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []))
}

/** ours tells whether `file` is one of our compiled modules (not a package). */
const ours = (file) => file.startsWith(dist + sep) && !file.includes(`${sep}node_modules${sep}`)

/**
 * DIRNAME_PACKAGES are the packages whose `__dirname`/`__filename` are rewritten: only those
 * known to use them as code (oclif reads its package.json through them). A plain text rewrite
 * elsewhere would also change strings (ejs writes `__filename` into the code it generates).
 */
const DIRNAME_PACKAGES = /[\\/]node_modules[\\/]@oclif[\\/]core[\\/]/

/**
 * locationShims rewrites what finds files beside a module to that module's original place:
 * `import.meta.url` in our modules, `__dirname` and `__filename` in packages (CommonJS, which
 * an ESM bundle does not define). `__bundleUrl` and `__bundlePath` come from the banner.
 */
const locationShims = {
  name: 'location-shims',
  setup(build) {
    build.onLoad({filter: /\.[cm]?js$/}, (args) => {
      const source = readFileSync(args.path, 'utf8')
      const at = JSON.stringify(relative(root, args.path).split(sep).join('/'))
      if (ours(args.path)) {
        if (!source.includes('import.meta')) return undefined
        const contents = source.replaceAll('import.meta.url', `__bundleUrl(${at})`)
        if (contents.includes('import.meta')) throw new Error(`bundle-cli: ${relative(root, args.path)} uses import.meta beyond import.meta.url; teach scripts/bundle-cli.js what it means in the bundle`)
        return {contents, loader: 'js', resolveDir: dirname(args.path)}
      }
      if (!DIRNAME_PACKAGES.test(args.path) || !/\b__(dirname|filename)\b/.test(source)) return undefined
      const dir = JSON.stringify(relative(root, dirname(args.path)).split(sep).join('/'))
      return {contents: source.replace(/\b__dirname\b/g, `__bundlePath(${dir})`).replace(/\b__filename\b/g, `__bundlePath(${at})`), loader: 'js', resolveDir: dirname(args.path)}
    })
  },
}

/**
 * oclifEntry is the virtual module behind dist/cli/core/oclif.js: @oclif/core's exports by
 * name (it is CommonJS, so `export *` would not carry them into an ESM bundle).
 */
const oclifEntry = {
  name: 'oclif-entry',
  setup(build) {
    const names = Object.keys(require('@oclif/core')).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default')
    build.onResolve({filter: /^oclif-entry$/}, () => ({path: 'oclif-entry', namespace: 'oclif-entry'}))
    build.onLoad({filter: /.*/, namespace: 'oclif-entry'}, () => ({contents: `import * as core from '@oclif/core'\nexport const {${names.join(', ')}} = core\n`, loader: 'js', resolveDir: root}))
  },
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

const commands = jsFiles(commandsDir)
/** outName is a command's bundle entry, flat so every output file is two levels below dist/cli. */
const outName = (file) => `commands/${relative(commandsDir, file).replace(/\.js$/, '').split(sep).join('-')}`
const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: [...commands.map((file) => ({in: file, out: outName(file)})), {in: 'oclif-entry', out: 'core/oclif'}],
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  external: ['@oclif/plugin-*', 'better-sqlite3', 'lmdb', 'react-devtools-core', 'typescript'],
  // First match wins: the replacements before the generic location rewrite.
  plugins: [oclifEntry, etcdProtoPrecompiled(etcdProtoDescriptor()), topSessionInBundle, noDevtools, locationShims],
  // Bundled CommonJS packages call require(); ESM output has none of its own. Every output
  // file is at dist/cli/<dir>/<file>.js, so the repository root is three levels up.
  banner: {
    js: [
      "import {createRequire as __bundleRequire} from 'node:module'; import {fileURLToPath as __bundleFileURLToPath} from 'node:url';",
      'const require = __bundleRequire(import.meta.url);',
      "const __bundleRoot = new URL('../../../', import.meta.url);",
      'const __bundleUrl = (path) => new URL(path, __bundleRoot).href;',
      'const __bundlePath = (path) => __bundleFileURLToPath(new URL(path, __bundleRoot));',
    ].join('\n'),
  },
  metafile: true,
  logLevel: 'warning',
})
mkdirSync(outdir, {recursive: true})
writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile))

// Point the manifest's commands at their bundle (oclif loads `relativePath` from the root).
const manifest = JSON.parse(readFileSync(unbundledManifestPath, 'utf8'))
let bundled = 0
for (const cmd of Object.values(manifest.commands)) {
  const file = join(root, ...cmd.relativePath)
  if (!commands.includes(file)) throw new Error(`bundle-cli: the manifest's ${cmd.relativePath.join('/')} is not a compiled command; run scripts/manifest.js first`)
  cmd.relativePath = relative(root, join(outdir, `${outName(file)}.js`)).split(sep)
  bundled++
}
// Written last and renamed into place: until then a CLI run finds no manifest, or the previous
// one, older than what tsc just wrote, which bin/freshManifest.js drops (never a manifest that
// points at a bundle half written).
const manifestTmp = join(dist, 'oclif.manifest.json.tmp')
writeFileSync(manifestTmp, JSON.stringify(manifest))
renameSync(manifestTmp, manifestPath)
console.error(`bundle-cli: ${bundled} commands and @oclif/core bundled into dist/cli`)
