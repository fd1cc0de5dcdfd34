// Writes docs/commands.md, the command reference, from the commands built in dist/ (run by
// `npm run docs:commands` after the build). test/e2e/commandReference.test.ts renders the
// same way and fails when the committed file differs.
import {writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {Plugin} from '@oclif/core'
import {renderCommandReference} from '../dist/src/cli/commandReference.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true})
await plugin.load()
writeFileSync(join(root, 'docs', 'commands.md'), renderCommandReference(plugin.manifest, 'shardctl'))
console.log(`docs/commands.md: ${Object.keys(plugin.manifest.commands).length} commands`)
