// Bundles the live dashboard (dist/src/tui/topSession.js with ink, react and their
// dependencies) into dist/src/tui/topSession.bundle.js, which `shardctl top` loads when it
// is at least as new as the module it was built from. Node's module loader spends most of
// top's start-up on ink's ~600 small files (es-toolkit's compat barrel alone is 416, for one
// `throttle`): one file loads in about a third of the CPU time. Our own modules outside
// dist/src/tui, and zod, stay external (shared with the command, one copy of each class).
// Run by `npm run build` after tsc. Without esbuild (a dev dependency, through tsx) it
// writes nothing and top loads the modules one by one.
import {rmSync} from 'node:fs'
import {dirname, join, relative, sep} from 'node:path'
import {fileURLToPath} from 'node:url'
import {optionalEsbuild, requireCompiled} from './esbuildSteps.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tuiDir = join(root, 'dist', 'src', 'tui')
const entry = join(tuiDir, 'topSession.js')
const outfile = join(tuiDir, 'topSession.bundle.js')
rmSync(outfile, {force: true})
const esbuild = await optionalEsbuild('bundle-tui', '`top` will load its modules unbundled')
requireCompiled('bundle-tui', root, entry)

/** ownModulesExternal keeps every module of ours outside dist/src/tui external, by a path relative to the bundle. */
const ownModulesExternal = {
  name: 'own-modules-external',
  setup(build) {
    build.onResolve({filter: /^\.\.?\//}, (args) => {
      if (args.importer.includes(`${sep}node_modules${sep}`)) return undefined
      const target = join(dirname(args.importer), args.path)
      if (target.startsWith(tuiDir + sep)) return undefined
      const path = relative(tuiDir, target).split(sep).join('/')
      return {path: path.startsWith('.') ? path : `./${path}`, external: true}
    })
  },
}

/** noDevtools drops ink's React DevTools hook: it loads only with DEV=true and needs react-devtools-core, which is not installed. */
const noDevtools = {
  name: 'no-devtools',
  setup(build) {
    build.onResolve({filter: /^\.\/devtools\.js$/}, (args) => (args.importer.includes(`${sep}node_modules${sep}ink${sep}`) ? {path: 'devtools', namespace: 'no-devtools'} : undefined))
    build.onLoad({filter: /.*/, namespace: 'no-devtools'}, () => ({contents: 'export {}', loader: 'js'}))
  },
}

await esbuild.build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['zod'],
  plugins: [ownModulesExternal, noDevtools],
  // Some bundled CommonJS packages call require(); ESM output has none of its own.
  banner: {js: "import {createRequire as __bundleRequire} from 'node:module'; const require = __bundleRequire(import.meta.url);"},
  logLevel: 'warning',
})
