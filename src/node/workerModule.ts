import {createRequire} from 'node:module'
import {pathToFileURL} from 'node:url'
import {Worker} from 'node:worker_threads'
import {freshWorkerBundle} from './workerBundle.js'

/**
 * startModuleWorker starts a worker thread running the module `stem` beside `here` (an
 * `import.meta.url`) with `workerData`: the compiled `stem.js` (from its one-file bundle
 * when that is fresh, see {@link freshWorkerBundle}: a thread loads its modules itself), or,
 * when `here` is a TypeScript source (tests under vitest, `bin/dev.js`), `stem.ts` through
 * tsx's loader, registered inside the thread.
 */
export function startModuleWorker(here: string, stem: string, workerData: unknown): Worker {
  if (!here.endsWith('.ts')) return new Worker(freshWorkerBundle(here, stem) ?? new URL(`./${stem}.js`, here), {workerData})
  const tsx = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href
  const entry = new URL(`./${stem}.ts`, here).href
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}) })`
  return new Worker(code, {eval: true, workerData})
}
