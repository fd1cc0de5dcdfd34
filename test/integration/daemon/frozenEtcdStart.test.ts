import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type PrivateEtcd, startPrivateEtcd} from '../../support/privateEtcd.js'
import {runCli} from '../../support/runCli.js'

/**
 * Start-up while etcd is frozen (SIGSTOP: it accepts the TCP connection and never answers).
 * Each daemon and a one-shot command fails within a stated bound (the etcd client's deadline
 * times its sends: 15 s by default, plus start-up) with one line naming etcd and its endpoint,
 * exit 3 (ETCD_UNREACHABLE). The autopilot, whose loop retries every etcd failure, used to
 * campaign for ever, one warning per interval.
 */

let etcd: PrivateEtcd
let dir: string

beforeAll(async () => {
  etcd = await startPrivateEtcd()
  dir = mkdtempSync(join(tmpdir(), 'shardctl-frozenstart-'))
  const init = await runCli(['cluster', 'init', '--endpoints', etcd.endpoint, '--cluster', 'c1', '--shards', '1', '--rf', '1', '--nodes', 'n1=127.0.0.1:1'], {cwd: dir})
  expect(init.code).toBe(0)
}, 60_000)

afterAll(async () => {
  try {
    process.kill(etcd.etcd.pid, 'SIGCONT')
  } catch {
    // gone
  }
  await etcd?.dispose()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('start-up while etcd is frozen', () => {
  it('Given etcd SIGSTOPped, When node serve, router serve, autopilot and cluster status start, Then each exits 3 with one line naming etcd and its endpoint', {timeout: 90_000}, async () => {
    const etcdFlags = ['--endpoints', etcd.endpoint, '--cluster', 'c1']
    const runs: [string, string[]][] = [
      ['node', ['node', 'serve', '--id', 'n1', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'n1'), ...etcdFlags]],
      ['router', ['router', 'serve', '--listen', '127.0.0.1:0', ...etcdFlags]],
      ['autopilot', ['autopilot', '--plans-dir', join(dir, 'plans'), ...etcdFlags]],
      ['cluster status', ['cluster', 'status', ...etcdFlags]],
    ]
    process.kill(etcd.etcd.pid, 'SIGSTOP')
    try {
      // Killed after 60 s: far above the bound (about 20 s each here), below where "never" starts.
      const results = await Promise.all(runs.map(async ([name, args]) => [name, await runCli(args, {cwd: dir, timeoutMs: 60_000})] as const))
      for (const [name, r] of results) {
        const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error:'))
        expect({name, code: r.code, errors: errors.length, names: errors[0]?.includes(`etcd at ${etcd.endpoint}`) && errors[0]?.includes('is unreachable')}).toEqual({name, code: 3, errors: 1, names: true})
      }
    } finally {
      process.kill(etcd.etcd.pid, 'SIGCONT')
    }
  })
})
