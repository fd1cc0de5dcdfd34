#!/usr/bin/env node
import {existsSync, readdirSync, statSync, unlinkSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {execute} from '@oclif/core'

// oclif.manifest.json (written by `npm run build`) lets the CLI load only the command it
// runs. A manifest older than the compiled commands would hide new ones, so drop it then.
const root = fileURLToPath(new URL('..', import.meta.url))
const manifest = join(root, 'oclif.manifest.json')
if (existsSync(manifest)) {
  const built = statSync(manifest).mtimeMs
  const newer = (dir) =>
    existsSync(dir) &&
    readdirSync(dir, {withFileTypes: true}).some((e) => (e.isDirectory() ? newer(join(dir, e.name)) : e.name.endsWith('.js') && statSync(join(dir, e.name)).mtimeMs > built))
  if (newer(join(root, 'dist', 'commands'))) {
    try {
      unlinkSync(manifest)
    } catch {
      // another process removed it first
    }
  }
}

await execute({dir: import.meta.url})
