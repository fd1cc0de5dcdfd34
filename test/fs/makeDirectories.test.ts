import {existsSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
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

  // Node 20's mkdirSync(dir, {recursive: true}) never returns for these (it loops at 100 % CPU, in
  // one synchronous call no test timeout can cut): so the calls run in a child process, and what
  // is asserted is that it ends on its own and reports ENOENT for each. The child's kill bound
  // only keeps a spinning child from hanging the run (a spin shows as killed, no output).
  it.skipIf(!existsSync('/proc/self'))('given a parent that refuses children (/proc), when made, then it throws ENOENT naming the path instead of spinning', () => {
    const module = fileURLToPath(new URL('../../src/fs/makeDirectories.ts', import.meta.url))
    const script = `import {makeDirectories} from ${JSON.stringify(module)}
for (const p of ['/proc/nope', '/proc/nope/deeper/still']) {
  try { makeDirectories(p); console.log('made ' + p) } catch (e) { console.log(e.code + ' ' + e.message) }
}`
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL'})
    expect(child.signal, 'the child spun and was killed').toBeNull()
    expect(child.status, child.stderr).toBe(0)
    const lines = child.stdout.trim().split('\n')
    expect(lines).toHaveLength(2)
    for (const line of lines) expect(line).toMatch(/^ENOENT .*'\/proc\/nope'/)
  }, 90_000)
})
