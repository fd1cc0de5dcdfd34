import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {runCli} from '../support/runCli.js'
import {uniqueCluster} from '../support/testStore.js'

/**
 * Mistakes a new operator makes, run as they make them: the real binary against a real etcd,
 * no terminal. Each must end in one line naming what was wrong and how to fix it, with the
 * documented exit code.
 */

let endpoint: string
let cwd: string

beforeAll(() => {
  endpoint = inject('etcdEndpoint')
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-mistakes-'))
})

afterAll(() => {
  rmSync(cwd, {recursive: true, force: true})
})

describe('a --cluster that does not exist', () => {
  // `repair` said the cluster "has no data-plane token yet — start a storage node", and `kv get`
  // "no router is registered … start one with `shardctl router serve`": both sent the operator
  // to start processes for a cluster name they had mistyped.
  it.each([[['repair']], [['repair', '--shard', '0']], [['kv', 'get', 'k']], [['kv', 'put', 'k', 'v']], [['kv', 'del', 'k']]])('Given %j, Then exit 1 with the one line every other command gives: the cluster does not exist', async (args) => {
    const typo = uniqueCluster('typo')
    const r = await runCli([...args, '--endpoints', endpoint, '--cluster', typo], {cwd})
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n')).toEqual([`Error: cluster "${typo}" does not exist in etcd — create it with \`shardctl cluster init --cluster ${typo} --shards N --rf R --nodes id=host:port,...\` or pick another with --cluster`])
    expect(r.code).toBe(1)
  })
})

describe('a bad SHARDCTL_ETCD_TIMEOUT_MS', () => {
  // Every command that talks to etcd read it with Number(): "5s" or "abc" made a NaN deadline
  // on every call, taken without a word (session 40).
  it.each([
    ['5s', ['shard', 'list']],
    ['abc', ['cluster', 'status']],
    ['0', ['moves', 'list']],
    ['-1', ['cluster', 'init', '--shards', '4', '--rf', '1', '--nodes', 'n1=127.0.0.1:1']],
  ])('Given SHARDCTL_ETCD_TIMEOUT_MS=%s for %j, Then exit 2 with one line naming it and a valid value, and nothing is created', async (value, args) => {
    const cluster = uniqueCluster('timeout')
    const r = await runCli([...args, '--endpoints', endpoint, '--cluster', cluster], {cwd, env: {SHARDCTL_ETCD_TIMEOUT_MS: value}})
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n')).toEqual([`Error: SHARDCTL_ETCD_TIMEOUT_MS: "${value}" is not a whole number from 100 to 2147483647 — set milliseconds, e.g. SHARDCTL_ETCD_TIMEOUT_MS=5000, or unset it for the default`])
    expect(r.code).toBe(2)
    const after = await runCli(['shard', 'list', '--endpoints', endpoint, '--cluster', cluster], {cwd})
    expect(after.stderr).toMatch(/does not exist in etcd/)
  })

  it('Given a valid value or a blank one, Then the command runs', async () => {
    for (const value of ['60000', ' ']) {
      const r = await runCli(['shard', 'list', '--endpoints', endpoint, '--cluster', uniqueCluster('timeout')], {cwd, env: {SHARDCTL_ETCD_TIMEOUT_MS: value}})
      expect(r.stderr).toMatch(/does not exist in etcd/)
    }
  })
})

describe('a malformed SHARDCTL_TEST_PHASE_FAULT', () => {
  // It threw a plain Error while the executor's modules loaded: oclif printed a wrapped block with
  // exit 1 (session 41); every other refused SHARDCTL_* variable is one line with exit 2.
  it('Given after:promotin:kill for moves list, Then exit 2 with one line naming it and a valid value', async () => {
    const r = await runCli(['moves', 'list', '--endpoints', endpoint, '--cluster', uniqueCluster('phasefault')], {cwd, env: {SHARDCTL_TEST_PHASE_FAULT: 'after:promotin:kill'}})
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^Error: SHARDCTL_TEST_PHASE_FAULT: "after:promotin:kill" is not <before\|after>:<phase>:<kill\|stop> \(phases: .*\) — set e\.g\. SHARDCTL_TEST_PHASE_FAULT=after:copying:kill, or unset it \(it is for tests only\)$/)])
    expect(r.code).toBe(2)
  })
})
