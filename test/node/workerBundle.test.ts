import {mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterEach, describe, expect, it} from 'vitest'
import {freshWorkerBundle} from '../../src/node/workerBundle.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

/** layout writes dist/src/node/{w.js, w.bundle.js, w.bundle.inputs.json} and ../model/m.js, all dated `at` (seconds), and returns `here` for dist/src/node. */
function layout(at = 1_000_000): {dir: string; here: string; touch: (file: string, seconds: number) => void} {
  const root = mkdtempSync(join(tmpdir(), 'shardctl-workerbundle-'))
  dirs.push(root)
  const dir = join(root, 'node')
  mkdirSync(dir)
  mkdirSync(join(root, 'model'))
  const touch = (file: string, seconds: number) => utimesSync(join(dir, file), seconds, seconds)
  for (const [file, text] of [['w.js', ''], ['w.bundle.js', ''], ['w.bundle.inputs.json', JSON.stringify(['w.js', '../model/m.js'])], ['../model/m.js', '']] as const) {
    writeFileSync(join(dir, file), text)
    touch(file, at)
  }
  return {dir, here: pathToFileURL(join(dir, 'caller.js')).href, touch}
}

describe('freshWorkerBundle', () => {
  it('Given a bundle no older than every module it lists, Then it is the one to run', () => {
    const {dir, here, touch} = layout()
    touch('w.bundle.js', 1_000_005)
    expect(freshWorkerBundle(here, 'w')?.href).toBe(pathToFileURL(join(dir, 'w.bundle.js')).href)
  })

  it('Given a listed module newer than the bundle (tsc ran since the build), Then undefined: the modules run one by one', () => {
    const {here, touch} = layout()
    touch('../model/m.js', 1_000_001)
    expect(freshWorkerBundle(here, 'w')).toBeUndefined()
  })

  it('Given no bundle, no list, an unreadable or empty list, or a listed module gone, Then undefined, never a throw', () => {
    const a = layout()
    rmSync(join(a.dir, 'w.bundle.js'))
    expect(freshWorkerBundle(a.here, 'w')).toBeUndefined()
    const b = layout()
    rmSync(join(b.dir, 'w.bundle.inputs.json'))
    expect(freshWorkerBundle(b.here, 'w')).toBeUndefined()
    for (const list of ['not json', '[]', '{"w.js":1}', '[1]']) {
      const c = layout()
      writeFileSync(join(c.dir, 'w.bundle.inputs.json'), list)
      expect(freshWorkerBundle(c.here, 'w')).toBeUndefined()
    }
    const d = layout()
    rmSync(join(d.dir, '../model/m.js'))
    expect(freshWorkerBundle(d.here, 'w')).toBeUndefined()
  })
})
