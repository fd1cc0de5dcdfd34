import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {readLocalEtcdState, stopLocalEtcd} from '../../src/localEtcd/localEtcdService.js'
import {runCli} from '../support/runCli.js'

/**
 * `etcd status` is what a CI script asks before using the local etcd: it prints the status
 * either way and exits 0 only when that etcd runs and answers /health, 3 otherwise.
 */

const cwd = mkdtempSync(join(tmpdir(), 'shardctl-etcdstatus-'))
const cli = (args: string[]) => runCli(args, {cwd, timeoutMs: 60_000})

afterAll(async () => {
  const state = readLocalEtcdState(cwd)
  if (state) process.kill(state.pid, 'SIGCONT')
  await stopLocalEtcd(cwd, true)
  rmSync(cwd, {recursive: true, force: true})
})

describe('shardctl etcd status', () => {
  it('Given no local etcd, a running one, a frozen one and a stopped one, When status runs, Then it prints each and exits 3, 0, 3, 3', async () => {
    const none = await cli(['etcd', 'status'])
    expect(none.code, none.stderr).toBe(3)
    expect(none.stdout.trim()).toBe('etcd is not running (start it with `shardctl etcd start`)')
    const noneJson = await cli(['etcd', 'status', '--json'])
    expect(noneJson.code).toBe(3)
    expect(JSON.parse(noneJson.stdout)).toMatchObject({running: false, healthy: false})

    const start = await cli(['etcd', 'start'])
    expect(start.code, start.stderr).toBe(0)
    const running = await cli(['etcd', 'status'])
    expect(running.code, running.stderr).toBe(0)
    expect(running.stdout).toMatch(/^etcd running at http:\/\/127\.0\.0\.1:\d+ \(pid \d+\)$/m)

    // A stopped (SIGSTOP) etcd is alive but does not answer /health.
    const {pid} = readLocalEtcdState(cwd)!
    process.kill(pid, 'SIGSTOP')
    try {
      const frozen = await cli(['etcd', 'status'])
      expect(frozen.code).toBe(3)
      expect(frozen.stdout).toMatch(/, but not healthy: see /)
    } finally {
      process.kill(pid, 'SIGCONT')
    }

    expect((await cli(['etcd', 'stop', '--purge'])).code).toBe(0)
    expect((await cli(['etcd', 'status'])).code).toBe(3)
  }, 120_000)
})
