#!/usr/bin/env node
import {fileURLToPath} from 'node:url'
import {dropStaleManifest} from './freshManifest.js'

// oclif.manifest.json (written by `npm run build`) lets the CLI load only the command it
// runs, from its bundle in dist/cli, with oclif itself from the same bundle (one copy of its
// classes; scripts/bundle-cli.js). A manifest older than the compiled code would hide new
// commands or run a stale bundle: then it is dropped (see freshManifest.js) and everything
// loads from dist/commands and node_modules, one module at a time.
const bundled = !dropStaleManifest(fileURLToPath(new URL('..', import.meta.url)))
const {Config, flush, handle, run} = bundled ? await import('../dist/cli/core/oclif.js') : await import('@oclif/core')

// oclif's execute(), with two more cases (src/cli/topLevelUsageError.ts): help about an
// unknown command (`help nosuch`, `nosuch --help`) is the one line `shardctl nosuch` prints,
// and a parse error that gets here (only a command of oclif's own plugins lets one through)
// is the one line every command prints, not oclif's error lines and usage; any other error
// is oclif's to print. The command list is loaded only for the unknown-command line.
const argv = process.argv.slice(2)
// flush() waits for stdout to drain. One whose reader went away (a daemon's log pipe closed:
// src/daemon/lostLogReader.ts) never drains: each write fails with EPIPE and the stream emits
// 'close' instead, and flush's unref'd bound let the process end with exit 13 (an unsettled
// top-level await) instead of the command's own code.
await run(argv, import.meta.url)
  .then(() => Promise.race([flush(), new Promise((resolve) => process.stdout.once('close', resolve))]))
  .catch(async (err) => {
    const usage = await import('../dist/src/cli/topLevelUsageError.js')
      .then(({topLevelError}) => topLevelError(err, argv, () => Config.load(import.meta.url)))
      .catch(() => undefined)
    if (!usage) return handle(err)
    process.stderr.write(`${usage.line}\n`)
    process.exitCode = usage.exitCode
  })
