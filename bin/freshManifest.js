import {existsSync, readdirSync, statSync, unlinkSync} from 'node:fs'
import {join} from 'node:path'

/**
 * dropStaleManifest deletes `root`/oclif.manifest.json when it cannot be trusted, so that
 * oclif discovers the commands from dist/commands instead (slower, but the code just built).
 * `npm run build` writes the manifest last, pointing most commands at their bundle in
 * dist/cli (scripts/bundle-cli.js). It is stale when dist/cli/meta.json is missing (the
 * bundle was deleted or never built) or when any .js file under dist/commands or dist/src is
 * newer than it (a `tsc` run alone, or `tsc --watch`: the bundle and the command list would
 * be older than the code). Returns true when the CLI must not use the bundle: it dropped the
 * manifest, or there was none. Never throws for a manifest another process removed first.
 */
export function dropStaleManifest(root) {
  const manifest = join(root, 'oclif.manifest.json')
  if (!existsSync(manifest)) return true
  const built = statSync(manifest).mtimeMs
  const newer = (dir) =>
    existsSync(dir) &&
    readdirSync(dir, {withFileTypes: true}).some((e) => (e.isDirectory() ? newer(join(dir, e.name)) : e.name.endsWith('.js') && statSync(join(dir, e.name)).mtimeMs > built))
  const dist = join(root, 'dist')
  if (existsSync(join(dist, 'cli', 'meta.json')) && !newer(join(dist, 'commands')) && !newer(join(dist, 'src'))) return false
  try {
    unlinkSync(manifest)
  } catch {
    // another process removed it first
  }
  return true
}
