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
