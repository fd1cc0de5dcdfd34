// Preloaded with `node --import` by test/e2e/cliStartup.test.ts: appends the URL of every
// module the process loads (ESM through a loader hook; CommonJS from require.cache at exit)
// to the file named by SHARDCTL_MODULE_TRACE, one per line.
import {appendFileSync} from 'node:fs'
import {createRequire, register} from 'node:module'

const out = process.env.SHARDCTL_MODULE_TRACE
if (out) {
  const hook = `import {appendFileSync} from 'node:fs'
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(out)}, url + '\\n')
  return next(url, context)
}`
  register(`data:text/javascript,${encodeURIComponent(hook)}`)
  const require = createRequire(import.meta.url)
  process.on('exit', () => appendFileSync(out, Object.keys(require.cache).map((k) => `${k}\n`).join('')))
}
