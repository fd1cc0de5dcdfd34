import {readFileSync, statSync} from 'node:fs'

/**
 * freshWorkerBundle returns the URL of `<stem>.bundle.js` beside `here` (a compiled
 * module's `import.meta.url`), written by scripts/bundle-workers.js, when it can stand in
 * for `<stem>.js`: it exists, and no compiled module it was built from (listed in
 * `<stem>.bundle.inputs.json`) is newer than it or missing. Undefined otherwise (no bundle,
 * or a `tsc` run since the build): the caller then starts the modules one by one, so stale
 * code never runs. Never throws.
 */
export function freshWorkerBundle(here: string, stem: string): URL | undefined {
  try {
    const bundle = new URL(`./${stem}.bundle.js`, here)
    const inputs = JSON.parse(readFileSync(new URL(`./${stem}.bundle.inputs.json`, here), 'utf8')) as unknown
    if (!Array.isArray(inputs) || inputs.length === 0) return undefined
    const builtAt = statSync(bundle).mtimeMs
    for (const input of inputs) {
      if (typeof input !== 'string' || statSync(new URL(input, bundle)).mtimeMs > builtAt) return undefined
    }
    return bundle
  } catch {
    return undefined
  }
}
