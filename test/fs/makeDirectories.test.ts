import {existsSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {makeDirectories} from '../../src/fs/makeDirectories.js'

const root = mkdtempSync(join(tmpdir(), 'shardctl-mkdirs-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))

describe('makeDirectories', () => {
  it('given missing parents, when made, then every level exists with the mode asked for, and making it again is a no-op', () => {
    const dir = join(root, 'a', 'b', 'c')
    makeDirectories(dir, 0o700)
    expect(statSync(dir).isDirectory()).toBe(true)
    expect(statSync(join(root, 'a')).mode & 0o777).toBe(0o700)
    expect(() => makeDirectories(dir)).not.toThrow()
  })

  it('given a file where the directory should be, when made, then it throws ENOTDIR naming the path', () => {
    const file = join(root, 'file')
    writeFileSync(file, 'x')
    expect(() => makeDirectories(file)).toThrow(expect.objectContaining({code: 'ENOTDIR', message: expect.stringContaining(file)}))
    expect(() => makeDirectories(join(file, 'below'))).toThrow(expect.objectContaining({code: 'ENOTDIR'}))
  })

  // Node 20's mkdirSync(dir, {recursive: true}) never returns for these (it loops at 100 % CPU).
  it.skipIf(!existsSync('/proc/self'))('given a parent that refuses children (/proc), when made, then it throws ENOENT at once instead of spinning', () => {
    const started = Date.now()
    expect(() => makeDirectories('/proc/nope')).toThrow(expect.objectContaining({code: 'ENOENT', message: expect.stringContaining('/proc/nope')}))
    expect(() => makeDirectories('/proc/nope/deeper/still')).toThrow(expect.objectContaining({code: 'ENOENT', message: expect.stringContaining('/proc/nope')}))
    expect(Date.now() - started).toBeLessThan(1000)
  })
})
