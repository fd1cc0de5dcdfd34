#!/usr/bin/env node
import {fileURLToPath} from 'node:url'
import {execute} from '@oclif/core'
import {dropStaleManifest} from './freshManifest.js'

// oclif.manifest.json (written by `npm run build`) lets the CLI load only the command it
// runs, from its bundle in dist/cli. A manifest older than the compiled code would hide new
// commands or run a stale bundle, so drop it then (see freshManifest.js).
dropStaleManifest(fileURLToPath(new URL('..', import.meta.url)))

await execute({dir: import.meta.url})
