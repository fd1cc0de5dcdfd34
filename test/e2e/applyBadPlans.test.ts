import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {type Plan, sealPlan} from '../../src/model/plan.js'
import {runCli} from '../support/runCli.js'
import {uniqueCluster} from '../support/testStore.js'

/**
 * Bad plan files given to the real `apply` and `plan verify` on real etcd: each must end with
 * one `Error:` line and its documented exit code, and leave the cluster as it was (same shard
 * map, no move recorded). A plan naming a node the cluster does not have used to be "applied"
 * with exit 0: every action skipped one by one, a `skipped` move recorded, nothing run.
 */
let cwd: string
let etcd: string[]
let other: string[]
const cli = (args: string[]) => runCli(args, {cwd})

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-badplans-'))
  const endpoint = inject('etcdEndpoint')
  const cluster = uniqueCluster('badplans')
  etcd = ['--endpoints', endpoint, '--cluster', cluster]
  other = ['--endpoints', endpoint, '--cluster', uniqueCluster('badplans-other')]
  for (const c of [etcd, other]) expect((await cli(['cluster', 'init', ...c, '--shards', '4', '--rf', '1', '--nodes', 'n1=127.0.0.1:7001,n2=127.0.0.1:7002'])).code).toBe(0)
  expect((await cli(['plan', ...etcd, '--out', 'base.json'])).code).toBe(0)
})
afterAll(() => rmSync(cwd, {recursive: true, force: true}))

/** state is what must not change: the shard map and the recorded moves. */
async function state(): Promise<string> {
  const shards = await cli(['shard', 'list', ...etcd, '--json'])
  const moves = await cli(['moves', 'list', ...etcd, '--json'])
  expect(shards.code, shards.stderr).toBe(0)
  expect(moves.code, moves.stderr).toBe(0)
  return `${shards.stdout}\n${moves.stdout}`
}

function variant(file: string, edit: (p: Plan) => Plan): void {
  const base = JSON.parse(readFileSync(join(cwd, 'base.json'), 'utf8')) as Plan
  writeFileSync(join(cwd, file), JSON.stringify(sealPlan(edit(base))))
}

describe('apply and plan verify given bad plan files', () => {
  it('Given plans that are truncated, malformed, for another cluster, or naming a node the cluster does not have, Then each is refused in one line with its exit code, and nothing changes', async () => {
    const move = (from: string, to: string) => ({kind: 'move' as const, shard: 0, epoch: 1, from, to, bytes: 0, keys: 0, reason: {kind: 'balance' as const, detail: 'x'}, predicted: {source: 1, target: 1}})
    variant('unknown-to.json', (p) => ({...p, id: 'unknown-to', actions: [move('n1', 'n9')]}))
    variant('unknown-from.json', (p) => ({...p, id: 'unknown-from', actions: [move('n7', 'n2')]}))
    writeFileSync(join(cwd, 'truncated.json'), readFileSync(join(cwd, 'base.json'), 'utf8').slice(0, 200))
    writeFileSync(join(cwd, 'malformed.json'), JSON.stringify({actions: 3}))
    const before = await state()
    const cases: [string[], number, RegExp][] = [
      [['apply', 'unknown-to.json', '--yes', ...etcd], 7, /names node "n9", which cluster ".*" does not have/],
      [['apply', 'unknown-from.json', '--yes', ...etcd], 7, /names node "n7", which cluster ".*" does not have/],
      [['plan', 'verify', 'unknown-to.json', ...etcd], 7, /plan action\(s\) are stale/],
      [['apply', 'truncated.json', '--yes', ...etcd], 2, /not valid JSON/],
      [['plan', 'verify', 'truncated.json', ...etcd], 2, /not valid JSON/],
      [['apply', 'malformed.json', '--yes', ...etcd], 2, /plan malformed.json: /],
      [['apply', 'base.json', '--yes', ...other], 2, /is for cluster ".*", not ".*"/],
      [['plan', 'verify', 'base.json', ...other], 2, /is for cluster ".*", not ".*" — pass --cluster /],
    ]
    for (const [args, code, message] of cases) {
      const r = await cli(args)
      expect({args, code: r.code}).toEqual({args, code})
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error:'))
      expect(errors, r.stderr).toHaveLength(1)
      expect(errors[0]).toMatch(message)
    }
    expect(await state()).toBe(before)
  }, 180_000)
})
