import {mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterEach, describe, expect, it} from 'vitest'
import {builtBundleOfSources} from '../../src/node/workerModule.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

/**
 * layout writes a checkout: src/node/{w.ts, caller.ts} and src/model/m.ts dated `at`
 * (seconds), and dist/src/node/{w.js, w.bundle.js, w.bundle.inputs.json} with
 * dist/src/model/m.js dated `at + 5` (built after); returns `here` for src/node/caller.ts.
 */
function layout(at = 1_000_000): {root: string; here: string; touch: (file: string, seconds: number) => void} {
  const root = mkdtempSync(join(tmpdir(), 'shardctl-workermodule-'))
  dirs.push(root)
  for (const d of ['src/node', 'src/model', 'dist/src/node', 'dist/src/model']) mkdirSync(join(root, d), {recursive: true})
  const touch = (file: string, seconds: number) => utimesSync(join(root, file), seconds, seconds)
  for (const file of ['src/node/w.ts', 'src/node/caller.ts', 'src/model/m.ts']) {
    writeFileSync(join(root, file), '')
    touch(file, at)
  }
  for (const [file, text] of [['dist/src/node/w.js', ''], ['dist/src/model/m.js', ''], ['dist/src/node/w.bundle.inputs.json', JSON.stringify(['../model/m.js', 'w.js'])], ['dist/src/node/w.bundle.js', '']] as const) {
    writeFileSync(join(root, file), text)
    touch(file, at + 5)
  }
  return {root, here: pathToFileURL(join(root, 'src/node/caller.ts')).href, touch}
}

describe('builtBundleOfSources', () => {
  it('Given a fresh bundle in dist/ and no source of its modules edited since the build, Then a thread started from the sources runs that bundle', () => {
    const {root, here} = layout()
    expect(builtBundleOfSources(here, 'w')?.href).toBe(pathToFileURL(join(root, 'dist/src/node/w.bundle.js')).href)
  })

  it('Given a source of one of its modules edited after the build, Then undefined: the thread compiles the sources (stale code never runs)', () => {
    for (const edited of ['src/node/w.ts', 'src/model/m.ts']) {
      const {here, touch} = layout()
      touch(edited, 1_000_010)
      expect(builtBundleOfSources(here, 'w'), edited).toBeUndefined()
    }
  })

  it('Given no dist/, a stale bundle (tsc ran since), a source gone, or a caller outside src/, Then undefined, never a throw', () => {
    const a = layout()
    rmSync(join(a.root, 'dist'), {recursive: true})
    expect(builtBundleOfSources(a.here, 'w')).toBeUndefined()
    const b = layout()
    b.touch('dist/src/model/m.js', 1_000_010)
    expect(builtBundleOfSources(b.here, 'w')).toBeUndefined()
    const c = layout()
    rmSync(join(c.root, 'src/model/m.ts'))
    expect(builtBundleOfSources(c.here, 'w')).toBeUndefined()
    const d = layout()
    expect(builtBundleOfSources(pathToFileURL(join(d.root, 'lib/node/caller.ts')).href, 'w')).toBeUndefined()
  })
})
