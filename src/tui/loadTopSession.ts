import {existsSync, statSync} from 'node:fs'

/** TopSessionModule is the live dashboard's module (ink and react behind it). */
export type TopSessionModule = typeof import('./topSession.js')

/**
 * loadTopSession imports the dashboard: the one-file bundle `npm run build` writes beside
 * the module (scripts/bundle-tui.js; a third of the CPU time to load), when it is at least
 * as new as the module (a `tsc` run alone leaves an older bundle, which must not run), else
 * the module itself. In the CLI bundle (scripts/bundle-cli.js) this module is replaced by a
 * plain `import('./topSession.js')`: the dashboard is a chunk of that bundle. It lives apart
 * from commands/top.ts so that only it finds files through import.meta.url.
 */
export function loadTopSession(): Promise<TopSessionModule> {
  const module = new URL('./topSession.js', import.meta.url)
  const bundle = new URL('./topSession.bundle.js', import.meta.url)
  const fresh = existsSync(bundle) && existsSync(module) && statSync(bundle).mtimeMs >= statSync(module).mtimeMs
  return fresh ? (import(bundle.href) as Promise<TopSessionModule>) : import('./topSession.js')
}
