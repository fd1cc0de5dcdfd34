#!/usr/bin/env node
// Makes sure an etcd server binary is available before tests or the demo run (npm's
// `pretest` and `demo` scripts call this; plain Node ESM, no build needed).
//   - etcd on PATH, or ETCD_BIN pointing at an executable: exit 0 silently.
//   - otherwise, as root on Linux with apt-get: install Debian's etcd-server, exit 0.
//   - otherwise: one line saying how to install it, exit 9 (shardctl's MISSING_DEPENDENCY).
// Debian's etcd-server may also start a system etcd on port 2379; shardctl never relies on
// it (tests and the demo start their own on free ports).
import {spawnSync} from 'node:child_process'
import {accessSync, constants, statSync} from 'node:fs'
import {delimiter, join} from 'node:path'

const EXIT_MISSING_DEPENDENCY = 9
const HINT = 'shardctl: etcd not found; install it (Debian/Ubuntu: apt-get update && apt-get install -y etcd-server) or set ETCD_BIN'

function isExecutableFile(path) {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name)
    if (isExecutableFile(candidate)) return candidate
  }
  return undefined
}

function fail(message) {
  console.error(message)
  process.exit(EXIT_MISSING_DEPENDENCY)
}

function run(cmd, args) {
  const res = spawnSync(cmd, args, {stdio: 'inherit', env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'}})
  if (res.error) return `${cmd} could not run (${res.error.message})`
  if (res.status !== 0) return `\`${cmd} ${args.join(' ')}\` exited with ${res.status ?? res.signal}`
  return undefined
}

const etcdBin = process.env.ETCD_BIN
if (etcdBin) {
  if (isExecutableFile(etcdBin)) process.exit(0)
  fail(`shardctl: ETCD_BIN=${etcdBin} is not an executable file; point it at the etcd binary or unset it`)
}
if (onPath('etcd')) process.exit(0)

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
if (process.platform !== 'linux' || !isRoot || !onPath('apt-get')) fail(HINT)

console.error('installing etcd-server with apt-get…')
const problem = run('apt-get', ['update', '-qq']) ?? run('apt-get', ['install', '-y', '-qq', 'etcd-server'])
if (problem) fail(`shardctl: installing etcd-server failed: ${problem}; install etcd yourself or set ETCD_BIN`)
if (!onPath('etcd')) {
  fail(isExecutableFile('/usr/bin/etcd') ? 'shardctl: etcd-server installed /usr/bin/etcd but it is not on PATH; add /usr/bin to PATH or set ETCD_BIN=/usr/bin/etcd' : `shardctl: etcd-server installed but no etcd binary was found on PATH; set ETCD_BIN`)
}
process.exit(0)
