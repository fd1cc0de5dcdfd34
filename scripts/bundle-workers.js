// Bundles the node's worker threads (dist/src/node/storageWriterWorker.js,
// copyReaderWorker.js and copyReceiveWorker.js, with zod, undici and our modules they import) into one file each,
// dist/src/node/<stem>.bundle.js, beside a list of the compiled modules it was built from
// (<stem>.bundle.inputs.json). Every worker thread is a new isolate that loads its modules
// itself: the storage writer's are 109 files (95 of them zod's), which every `node serve`
// resolved and compiled one by one before it could open its database. Importing the
// writer's core from one file took 83-90 ms of CPU instead of 148-197 ms. startModuleWorker
// (src/node/workerModule.ts) runs a bundle only when none of those modules is newer than it
// (a `tsc` run alone), else the modules as before. better-sqlite3 (native) stays external.
// Run by `npm run build` after tsc. Without esbuild it writes nothing.
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join, relative, sep} from 'node:path'
import {fileURLToPath} from 'node:url'
import {optionalEsbuild, requireCompiled} from './esbuildSteps.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const nodeDir = join(root, 'dist', 'src', 'node')
const STEMS = ['storageWriterWorker', 'copyReaderWorker', 'copyReceiveWorker']
for (const stem of STEMS) {
  rmSync(join(nodeDir, `${stem}.bundle.js`), {force: true})
  rmSync(join(nodeDir, `${stem}.bundle.inputs.json`), {force: true})
}
const esbuild = await optionalEsbuild('bundle-workers', 'worker threads will load their modules unbundled')
for (const stem of STEMS) {
  const entry = join(nodeDir, `${stem}.js`)
  requireCompiled('bundle-workers', root, entry)
  const outfile = join(nodeDir, `${stem}.bundle.js`)
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['better-sqlite3'],
    metafile: true,
    absWorkingDir: root,
    // Bundled CommonJS packages call require(); ESM output has none of its own.
    banner: {js: "import {createRequire as __bundleRequire} from 'node:module'; const require = __bundleRequire(import.meta.url);"},
    logLevel: 'warning',
  })
  // A module that finds files beside itself would look beside the bundle instead: refuse.
  const text = readFileSync(outfile, 'utf8')
  if (text.split('import.meta').length - 1 !== 1) {
    console.error(`bundle-workers: ${stem} uses import.meta beyond the banner; it cannot be bundled as is`)
    rmSync(outfile, {force: true})
    process.exit(1)
  }
  // The compiled modules of ours it holds, relative to the bundle (node_modules change only with an install, which rebuilds).
  const inputs = Object.keys(result.metafile.inputs)
    .filter((p) => !p.split(/[\\/]/).includes('node_modules'))
    .map((p) => relative(nodeDir, join(root, p)).split(sep).join('/'))
  writeFileSync(join(nodeDir, `${stem}.bundle.inputs.json`), JSON.stringify(inputs))
}
console.error(`bundle-workers: ${STEMS.join(', ')} bundled into dist/src/node`)
