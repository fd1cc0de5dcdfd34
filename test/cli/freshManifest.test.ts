import {existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {dropStaleManifest} from '../../bin/freshManifest.js'

/**
 * bin/run.js trusts oclif.manifest.json (which points commands at their bundle in dist/cli)
 * only while it is newer than every compiled file and the bundle exists; otherwise the CLI
 * must fall back to dist/commands rather than run a stale bundle. A tree of files with set
 * modification times stands in for a build.
 */
let root: string
const T0 = new Date('2026-01-01T00:00:00Z')
const later = (s: number) => new Date(T0.getTime() + s * 1000)

function file(path: string, at: Date): void {
  const full = join(root, path)
  mkdirSync(join(full, '..'), {recursive: true})
  writeFileSync(full, '')
  utimesSync(full, at, at)
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'shardctl-manifest-'))
  file('dist/commands/cluster/status.js', T0)
  file('dist/src/cluster/clusterStatus.js', T0)
  file('dist/cli/meta.json', later(1))
  file('oclif.manifest.json', later(2))
})
afterEach(() => rmSync(root, {recursive: true, force: true}))

describe('dropStaleManifest', () => {
  it('Given a manifest written after the build and its bundle, When checked, Then it is kept', () => {
    expect(dropStaleManifest(root)).toBe(false)
    expect(existsSync(join(root, 'oclif.manifest.json'))).toBe(true)
  })

  it('Given a module under dist/src rebuilt after the manifest (tsc alone), When checked, Then the manifest is dropped so the stale bundle does not run', () => {
    file('dist/src/cluster/clusterStatus.js', later(3))
    expect(dropStaleManifest(root)).toBe(true)
    expect(existsSync(join(root, 'oclif.manifest.json'))).toBe(false)
  })

  it('Given a command rebuilt after the manifest, When checked, Then the manifest is dropped', () => {
    file('dist/commands/cluster/status.js', later(3))
    expect(dropStaleManifest(root)).toBe(true)
  })

  it('Given no bundle (dist/cli/meta.json missing), When checked, Then the manifest is dropped', () => {
    rmSync(join(root, 'dist/cli'), {recursive: true})
    expect(dropStaleManifest(root)).toBe(true)
  })

  it('Given only non-JS files newer (source maps), When checked, Then the manifest is kept', () => {
    file('dist/src/cluster/clusterStatus.js.map', later(3))
    expect(dropStaleManifest(root)).toBe(false)
  })

  it('Given no manifest, When checked, Then the bundle is not used either', () => {
    rmSync(join(root, 'oclif.manifest.json'))
    expect(dropStaleManifest(root)).toBe(true)
  })
})
