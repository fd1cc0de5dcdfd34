import {readFileSync, statSync} from 'node:fs'
import {createRequire} from 'node:module'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {Worker} from 'node:worker_threads'
import {freshWorkerBundle} from './workerBundle.js'

/**
 * startModuleWorker starts a worker thread running the module `stem` beside `here` (an
 * `import.meta.url`) with `workerData`: the compiled `stem.js` (from its one-file bundle
 * when that is fresh, see {@link freshWorkerBundle}: a thread loads its modules itself), or,
 * when `here` is a TypeScript source (tests under vitest, `bin/dev.js`), the bundle `npm run
 * build` wrote from the same sources when none of them changed since (see
 * {@link builtBundleOfSources}), else `stem.ts` through tsx's loader, registered inside the thread.
 */
export function startModuleWorker(here: string, stem: string, workerData: unknown): Worker {
  if (!here.endsWith('.ts')) return new Worker(freshWorkerBundle(here, stem) ?? new URL(`./${stem}.js`, here), {workerData})
  const built = builtBundleOfSources(here, stem)
  if (built) return new Worker(built, {workerData})
  const tsx = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href
  const entry = new URL(`./${stem}.ts`, here).href
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}) })`
  return new Worker(code, {eval: true, workerData})
}

/**
 * builtBundleOfSources returns the bundle of `stem` in dist/ (`<root>/dist/src/...` for
 * `here` = `<root>/src/...`) when it is fresh (freshWorkerBundle) and no TypeScript source of
 * its modules is newer than it; undefined otherwise (not built, or a source edited since the
 * build: stale code never runs). A thread that loads its modules through tsx compiles each one
 * first: about 0.3 s per thread on the CI runner, and a storage engine starts two, which
 * unit tests opening many engines paid each time (`npm test` builds dist/ first). Never throws.
 */
export function builtBundleOfSources(here: string, stem: string): URL | undefined {
  try {
    const source = fileURLToPath(here)
    const at = source.lastIndexOf('/src/')
    if (at < 0) return undefined
    const distHere = pathToFileURL(`${source.slice(0, at)}/dist${source.slice(at)}`).href
    const bundle = freshWorkerBundle(distHere, stem)
    if (!bundle) return undefined
    const builtAt = statSync(bundle).mtimeMs
    const inputs = JSON.parse(readFileSync(new URL(`./${stem}.bundle.inputs.json`, distHere), 'utf8')) as string[]
    for (const input of inputs) {
      const tsSource = fileURLToPath(new URL(input.replace(/\.js$/, '.ts'), here))
      if (statSync(tsSource).mtimeMs > builtAt) return undefined
    }
    return bundle
  } catch {
    return undefined
  }
}
