// Writes oclif.manifest.json from the built commands in dist/, so the CLI loads only the
// command it runs instead of importing every command at start-up. The manifest is
// git-ignored so it can never go stale in a commit. `npm run build` runs it after tsc with
// another path (the first argument, relative to the root): scripts/bundle-cli.js then writes
// oclif.manifest.json from it, pointing the commands at their bundle, as the build's last step.
import {writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {Plugin} from '@oclif/core'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true})
await plugin.load()
if (!plugin.manifest || Object.keys(plugin.manifest.commands).length === 0) {
  console.error('manifest: no commands found in dist/commands; did tsc run?')
  process.exit(1)
}
writeFileSync(join(root, process.argv[2] ?? 'oclif.manifest.json'), JSON.stringify(plugin.manifest))
