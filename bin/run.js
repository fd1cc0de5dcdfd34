#!/usr/bin/env node
import {fileURLToPath} from 'node:url'
import {dropStaleManifest} from './freshManifest.js'

// oclif.manifest.json (written by `npm run build`) lets the CLI load only the command it
// runs, from its bundle in dist/cli, with oclif itself from the same bundle (one copy of its
// classes; scripts/bundle-cli.js). A manifest older than the compiled code would hide new
// commands or run a stale bundle: then it is dropped (see freshManifest.js) and everything
// loads from dist/commands and node_modules, one module at a time.
const bundled = !dropStaleManifest(fileURLToPath(new URL('..', import.meta.url)))
const {execute} = bundled ? await import('../dist/cli/core/oclif.js') : await import('@oclif/core')

await execute({dir: import.meta.url})
