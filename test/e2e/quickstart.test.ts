import {spawn} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {freePort} from '../../src/localEtcd/freePort.js'
import {CLI_BIN} from '../support/runCli.js'

/**
 * The README's quick start, run as written: the block between the README's quickstart
 * markers must be examples/quickstart.sh, and that script, run by bash in an empty
 * directory with `shardctl` on PATH, starts etcd, two nodes and a router, writes and reads
 * a key, plans and applies, and stops everything — exit 0. Only the fixed ports of the
 * README (7100-7102) are swapped for free ones found now, so parallel runs never collide.
 */

const ROOT = resolve(import.meta.dirname, '../..')
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

/** readmeQuickstart returns the shell lines of the README's quick start block. */
function readmeQuickstart(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const m = /<!-- quickstart:start -->\n```sh\n([\s\S]*?)```\n<!-- quickstart:end -->/.exec(readme)
  if (!m) throw new Error('README.md has no quick start block between <!-- quickstart:start --> and <!-- quickstart:end -->')
  return m[1]!
}

describe('README quick start', () => {
  it('Given the README, When its quick start block is read, Then it is examples/quickstart.sh, at most 10 lines', () => {
    const block = readmeQuickstart()
    expect(block).toBe(readFileSync(join(ROOT, 'examples/quickstart.sh'), 'utf8'))
    expect(block.trim().split('\n').length).toBeLessThanOrEqual(10)
  })

  it('Given an empty directory, When the quick start runs, Then the key reads back, the plan is applied and nothing is left running', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'shardctl-quickstart-'))
    dirs.push(cwd)
    const bin = join(cwd, 'bin')
    rmSync(bin, {recursive: true, force: true})
    mkdirSync(bin)
    writeFileSync(join(bin, 'shardctl'), `#!/bin/sh\nexec ${process.execPath} ${CLI_BIN} "$@"\n`)
    chmodSync(join(bin, 'shardctl'), 0o755)
    const [router, n1, n2] = [await freePort(), await freePort(), await freePort()]
    const script = readmeQuickstart().replaceAll('127.0.0.1:7100', `127.0.0.1:${router}`).replaceAll('127.0.0.1:7101', `127.0.0.1:${n1}`).replaceAll('127.0.0.1:7102', `127.0.0.1:${n2}`)
    writeFileSync(join(cwd, 'quickstart.sh'), script)
    const out = join(cwd, 'out.txt')
    const code = await new Promise<number | null>((done) => {
      // Output goes to a file: etcd outlives a pipe's reader otherwise.
      const child = spawn('bash', ['-c', `bash quickstart.sh > ${out} 2>&1`], {cwd, env: {PATH: `${bin}:${process.env.PATH}`, HOME: cwd}, stdio: 'ignore'})
      const timer = setTimeout(() => child.kill('SIGKILL'), 240_000)
      child.once('exit', (c) => {
        clearTimeout(timer)
        done(c)
      })
    })
    const text = readFileSync(out, 'utf8')
    expect(code, text).toBe(0)
    expect(text).toMatch(/^world$/m)
    expect(text).toMatch(/Plan \S+ for cluster default: [1-9]\d* action\(s\) to run/)
    expect(text).toMatch(/Finished: [1-9]\d* done/)
    expect(text).toMatch(/etcd stopped .*; data deleted/)
  }, 300_000)
})
