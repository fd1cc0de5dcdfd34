import {existsSync, mkdirSync, statSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

/**
 * makeDirectories creates `dir` and its missing parents, as `mkdirSync(dir, {recursive: true})`
 * does, but one level at a time. Node 20's recursive mkdir never returns when a parent exists
 * yet refuses to create children with ENOENT, as /proc and other pseudo file systems do: it
 * spins at 100 % CPU inside one synchronous call, so no signal handler runs either. Returns
 * when `dir` is a directory (already or now); throws the first failing mkdir's error (ENOENT,
 * EACCES, EROFS, ...), whose message names the path, or ENOTDIR when `dir` is something else.
 */
export function makeDirectories(dir: string, mode?: number): void {
  const missing: string[] = []
  for (let at = resolve(dir); !existsSync(at); at = dirname(at)) {
    missing.push(at)
    if (dirname(at) === at) break
  }
  for (const path of missing.reverse()) {
    try {
      mkdirSync(path, {mode})
    } catch (err) {
      // Another process made it in between: fine, as long as it is a directory (checked below).
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), {code: 'ENOTDIR', path: dir})
}
