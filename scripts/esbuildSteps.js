// Steps the optional bundling scripts (bundle-tui.js, bundle-workers.js) share. esbuild is a
// dev dependency: without it they write nothing and the code loads its modules unbundled.
import {existsSync} from 'node:fs'
import {relative} from 'node:path'

/** optionalEsbuild imports esbuild, or says what happens without it (`without`) and exits 0. */
export async function optionalEsbuild(tag, without) {
  try {
    return await import('esbuild')
  } catch {
    console.error(`${tag}: esbuild is not installed; ${without}`)
    process.exit(0)
  }
}

/** requireCompiled exits 1 naming `entry` (relative to `root`) when tsc has not written it. */
export function requireCompiled(tag, root, entry) {
  if (existsSync(entry)) return
  console.error(`${tag}: ${relative(root, entry)} is missing; did tsc run?`)
  process.exit(1)
}
