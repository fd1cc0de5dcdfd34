import {spawnSync} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

const script = fileURLToPath(new URL('../../scripts/ensure-etcd.js', import.meta.url))
const isRoot = process.platform === 'linux' && process.getuid?.() === 0
const HINT = 'shardctl: etcd not found; install it (Debian/Ubuntu: apt-get update && apt-get install -y etcd-server) or set ETCD_BIN'

let dir: string
let bin: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-ensure-etcd-'))
  bin = join(dir, 'bin')
  mkdirSync(bin)
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

function executable(path: string, body: string): string {
  writeFileSync(path, body)
  chmodSync(path, 0o755)
  return path
}

/** fakeAptGet writes an apt-get that logs its calls and, on install, creates `etcd` in bin (unless told to fail). */
function fakeAptGet(opts: {failInstall?: boolean} = {}): string {
  return executable(
    join(bin, 'apt-get'),
    `#!${process.execPath}
const fs = require('node:fs')
fs.appendFileSync(${JSON.stringify(join(dir, 'apt.log'))}, process.argv.slice(2).join(' ') + ' DEBIAN_FRONTEND=' + process.env.DEBIAN_FRONTEND + '\\n')
if (process.argv[2] === 'install') {
  if (${Boolean(opts.failInstall)}) process.exit(100)
  fs.writeFileSync(${JSON.stringify(join(bin, 'etcd'))}, '#!/bin/sh\\n', {mode: 0o755})
}
`,
  )
}

function ensure(env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [script], {env: {PATH: bin, ...env}, encoding: 'utf8'})
  return {code: res.status, stdout: res.stdout, stderr: res.stderr}
}

describe('scripts/ensure-etcd.js', () => {
  it('given etcd on PATH, then it exits 0 and prints nothing', () => {
    executable(join(bin, 'etcd'), '#!/bin/sh\n')

    expect(ensure()).toEqual({code: 0, stdout: '', stderr: ''})
  })

  it('given ETCD_BIN pointing at an executable, then it exits 0 and prints nothing', () => {
    const etcd = executable(join(dir, 'my-etcd'), '#!/bin/sh\n')

    expect(ensure({ETCD_BIN: etcd})).toEqual({code: 0, stdout: '', stderr: ''})
  })

  it('given ETCD_BIN pointing at nothing, then it exits 9 naming it (and installs nothing)', () => {
    fakeAptGet()

    const res = ensure({ETCD_BIN: join(dir, 'nope')})

    expect(res.code).toBe(9)
    expect(res.stderr.trim()).toBe(`shardctl: ETCD_BIN=${join(dir, 'nope')} is not an executable file; point it at the etcd binary or unset it`)
  })

  it('given no etcd and no apt-get, then it exits 9 with the one-line install hint', () => {
    const res = ensure()

    expect(res.code).toBe(9)
    expect(res.stderr).toBe(`${HINT}\n`)
    expect(res.stdout).toBe('')
  })

  it.runIf(isRoot)('given no etcd, as root with apt-get, then it updates, installs etcd-server non-interactively and exits 0', () => {
    fakeAptGet()

    const res = ensure()

    expect(res.code).toBe(0)
    expect(res.stderr).toBe('installing etcd-server with apt-get…\n')
    expect(readFileSync(join(dir, 'apt.log'), 'utf8').trim().split('\n')).toEqual(['update -qq DEBIAN_FRONTEND=noninteractive', 'install -y -qq etcd-server DEBIAN_FRONTEND=noninteractive'])
  })

  it.runIf(isRoot)('given the install fails, then it exits 9 with one line saying so', () => {
    fakeAptGet({failInstall: true})

    const res = ensure()

    expect(res.code).toBe(9)
    const lines = res.stderr.trim().split('\n')
    expect(lines).toEqual(['installing etcd-server with apt-get…', 'shardctl: installing etcd-server failed: `apt-get install -y -qq etcd-server` exited with 100; install etcd yourself or set ETCD_BIN'])
  })
})
