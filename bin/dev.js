#!/usr/bin/env -S node --import tsx
import {fileURLToPath} from 'node:url'
import {dropStaleManifest} from './freshManifest.js'

// Without a build (no oclif.manifest.json) oclif loads the commands from the TypeScript
// sources through tsx. With a current build the manifest points the commands at the bundle in
// dist/cli, which carries its own copy of oclif: use that copy too, as bin/run.js does, or
// the commands' errors and exits would not be recognised by the oclif that runs them.
// Delete oclif.manifest.json to run the sources while a build exists.
const bundled = !dropStaleManifest(fileURLToPath(new URL('..', import.meta.url)))
const {execute} = bundled ? await import('../dist/cli/core/oclif.js') : await import('@oclif/core')

await execute({development: true, dir: import.meta.url})
