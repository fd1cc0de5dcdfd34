import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {type Plan, type PlanAction, sealPlan} from '../../src/model/plan.js'
import {readKeyFile, signPlan} from '../../src/plans/signing.js'
import {writeSigningKeyPair} from '../../src/plans/signingKeys.js'
import {runCli} from '../support/runCli.js'
import {uniqueCluster} from '../support/testStore.js'

/**
 * The CI gate's promise, attacked with signed plans on real etcd and the real binary: `apply
 * --require-signature` runs what was signed against the cluster it was made for, or refuses in
 * one `Error:` line with its documented exit code and changes nothing (same shard map, no move
 * recorded). Each case below was accepted before session 30: a signed plan of the cluster before
 * `cluster init --force` ran on the new incarnation (its epochs start at 1 again, so every epoch
 * check passed); a signed plan none of whose actions could still run ended "Finished: N skipped",
 * exit 0, with N skipped moves recorded; a signed file repeating a key ran the last value while a
 * reader of the file saw the first.
 */
let cwd: string
const nodes = 'n1=127.0.0.1:7011,n2=127.0.0.1:7012,n3=127.0.0.1:7013'
const cli = (args: string[], timeoutMs = 30_000) => runCli(args, {cwd, timeoutMs})

beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-replay-'))
  writeSigningKeyPair(join(cwd, 'ci'))
})
afterAll(() => rmSync(cwd, {recursive: true, force: true}))

interface ShardLine {
  id: number
  epoch: number
  replicas: {node: string}[]
}

/** world initialises a cluster and returns its connection flags and shards. */
async function world(name: string): Promise<{conn: string[]; shards: ShardLine[]}> {
  const conn = ['--endpoints', inject('etcdEndpoint'), '--cluster', uniqueCluster(name)]
  const init = await cli(['cluster', 'init', ...conn, '--shards', '4', '--rf', '1', '--nodes', nodes])
  expect(init.code, init.stderr).toBe(0)
  return {conn, shards: await shardsOf(conn)}
}

async function shardsOf(conn: string[]): Promise<ShardLine[]> {
  const r = await cli(['shard', 'list', ...conn, '--json'])
  expect(r.code, r.stderr).toBe(0)
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ShardLine)
}

/** state is what a refusal must not change: the shard map and the recorded moves. */
async function state(conn: string[]): Promise<string> {
  const shards = await cli(['shard', 'list', ...conn, '--json'])
  const moves = await cli(['moves', 'list', ...conn, '--json'])
  expect(moves.code, moves.stderr).toBe(0)
  return `${shards.stdout}\n${moves.stdout}`
}

function move(s: ShardLine, epoch = s.epoch): PlanAction {
  const from = s.replicas[0]!.node
  return {kind: 'move', shard: s.id, epoch, from, to: from === 'n1' ? 'n3' : 'n1', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}
}

/** signed writes `file`: the live plan `base` with `actions`, sealed and signed by ci.key, as `plan --sign` writes it. */
function signed(file: string, base: Plan, id: string, actions: PlanAction[]): void {
  const plan = signPlan(sealPlan({...base, id, actions}), readKeyFile(join(cwd, 'ci.key'), 'private'))
  writeFileSync(join(cwd, file), `${JSON.stringify(plan, null, 2)}\n`)
}

async function basePlan(conn: string[], file: string): Promise<Plan> {
  const r = await cli(['plan', ...conn, '--sign', 'ci.key', '--out', file])
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(readFileSync(join(cwd, file), 'utf8')) as Plan
}

async function expectRefused(conn: string[], args: string[], code: number, message: RegExp): Promise<void> {
  const before = await state(conn)
  const r = await cli(args)
  expect({args, code: r.code}, r.stdout + r.stderr).toEqual({args, code})
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error:'))
  expect(errors, r.stderr).toHaveLength(1)
  expect(errors[0]).toMatch(message)
  expect(await state(conn)).toBe(before)
}

describe('signed plans replayed, stale or ambiguous', () => {
  it('Given a signed plan of a cluster, When the cluster is initialised again (init --force, same name, nodes and shards), Then apply and plan verify refuse it (exit 2), nothing changed', async () => {
    const {conn, shards} = await world('replay-reinit')
    const base = await basePlan(conn, 'reinit-base.json')
    expect(base.createdFrom.uid).toMatch(/^[A-Za-z0-9-]{8,64}$/)
    signed('reinit.json', base, 'reinit', [move(shards[0]!)])
    const verify = await cli(['plan', 'verify', 'reinit.json', '--require-signature', 'ci.pub', ...conn])
    expect(verify.code, verify.stderr).toBe(0)
    const again = await cli(['cluster', 'init', ...conn, '--force', '--shards', '4', '--rf', '1', '--nodes', nodes])
    expect(again.code, again.stderr).toBe(0)
    // Same shards at the same epochs: every per-action check passes; only the incarnation tells.
    expect(await shardsOf(conn)).toEqual(shards)
    const another = /was made from another incarnation of cluster ".*" \(uid .*; this one is uid .*\): the cluster was initialised again since, or is another cluster of that name; nothing was changed/
    await expectRefused(conn, ['plan', 'verify', 'reinit.json', '--require-signature', 'ci.pub', ...conn], 2, another)
    await expectRefused(conn, ['apply', 'reinit.json', '--yes', '--require-signature', 'ci.pub', ...conn], 2, another)
  }, 120_000)

  it('Given a signed plan none of whose actions can still run, When applied, Then apply refuses it (exit 7) naming the first stale action, as plan verify does, and records nothing', async () => {
    const {conn, shards} = await world('replay-stale')
    const base = await basePlan(conn, 'stale-base.json')
    signed('stale.json', base, 'stale', [move(shards[0]!, 6), move(shards[1]!, 6)])
    await expectRefused(conn, ['plan', 'verify', 'stale.json', '--require-signature', 'ci.pub', ...conn], 7, /2 of 2 plan action\(s\) are stale \(first: action 1, shard 0: the shard is at epoch 1, the plan expects 6\)/)
    await expectRefused(conn, ['apply', 'stale.json', '--yes', '--require-signature', 'ci.pub', ...conn], 7, /every one of plan stale's 2 action\(s\) is stale \(first: action 1, shard 0: shard 0 is at epoch 1, the plan expected 6\); nothing was recorded or changed/)
  }, 120_000)

  it('Given a signed plan file with a key repeated in one object (the signed value last), When verified or applied, Then it is refused (exit 2), nothing changed', async () => {
    const {conn} = await world('replay-dupkey')
    await basePlan(conn, 'dup.json')
    const text = readFileSync(join(cwd, 'dup.json'), 'utf8')
    writeFileSync(join(cwd, 'dup.json'), text.replace('"status": ', '"status": "unreachable", "status": '))
    expect(JSON.parse(readFileSync(join(cwd, 'dup.json'), 'utf8'))).toEqual(JSON.parse(text))
    const twice = /summary: key "status" appears twice in one object/
    await expectRefused(conn, ['plan', 'verify', 'dup.json', '--require-signature', 'ci.pub', ...conn], 2, twice)
    await expectRefused(conn, ['apply', 'dup.json', '--yes', '--require-signature', 'ci.pub', ...conn], 2, twice)
  }, 120_000)

  it('Given a signed plan, When plan verify passes against a snapshot file, Then its line says other plans\' unfinished moves were not checked; against etcd it says how many conflict', async () => {
    const {conn} = await world('replay-snapshot')
    await basePlan(conn, 'snapshot-base.json')
    expect((await cli(['snapshot', 'export', ...conn, '--out', 'snapshot.json'])).code).toBe(0)
    const offline = await cli(['plan', 'verify', 'snapshot-base.json', '--require-signature', 'ci.pub', '--snapshot', 'snapshot.json'])
    expect(offline.code, offline.stderr).toBe(0)
    expect(offline.stdout).toMatch(/action\(s\) still valid; other plans' unfinished moves not checked \(a snapshot file holds none: verify against etcd before apply\)/)
    const live = await cli(['plan', 'verify', 'snapshot-base.json', '--require-signature', 'ci.pub', ...conn])
    expect(live.code, live.stderr).toBe(0)
    expect(live.stdout).toMatch(/action\(s\) still valid; 0 conflict\(s\) with other plans' unfinished moves/)
  }, 120_000)

  // Accepted until session 33: a signed plan one of whose actions was stale ran the rest, though its
  // signer approved it whole (its later moves were planned counting on the skipped ones: a plan
  // emptying n1 into n3 then filling n1 could overfill n1). A signed plan now runs whole or not at
  // all unless `--stale skip` asks otherwise.
  it('Given a signed plan one of whose two actions is stale, When applied with --require-signature (or any plan with --stale refuse), Then it is refused (exit 7) naming the stale action and nothing runs', async () => {
    const {conn, shards} = await world('replay-partial')
    const base = await basePlan(conn, 'partial-base.json')
    signed('partial.json', base, 'partial', [move(shards[0]!, 6), move(shards[1]!)])
    const whole = /1 of plan partial's 2 action\(s\) are stale \(first: action 1, shard 0: shard 0 is at epoch 1, the plan expected 6\), and --stale refuse runs a plan whole or not at all; nothing was recorded or changed/
    await expectRefused(conn, ['apply', 'partial.json', '--yes', '--require-signature', 'ci.pub', ...conn], 7, whole)
    await expectRefused(conn, ['apply', 'partial.json', '--yes', '--stale', 'refuse', ...conn], 7, whole)
  }, 120_000)

  it('Given a signed plan made three hours ago, When verified or applied with --max-plan-age 2h, Then both refuse it (exit 7) naming its age, nothing changed; with 4h verify passes', async () => {
    const {conn, shards} = await world('replay-old')
    const base = await basePlan(conn, 'old-base.json')
    const made = new Date(Date.now() - 3 * 3_600_000 - 60_000).toISOString()
    signed('old.json', {...base, createdAt: made}, 'old', [move(shards[0]!)])
    // The minutes depend on how long the runs below take: only the hours are the plan's.
    const old = new RegExp(`plan old was made 3h \\d+m ago \\(${made.replace(/[.]/g, '\\.')}\\), more than --max-plan-age 2h 0m allows; nothing was recorded or changed`)
    await expectRefused(conn, ['plan', 'verify', 'old.json', '--require-signature', 'ci.pub', '--max-plan-age', '2h', ...conn], 7, old)
    await expectRefused(conn, ['apply', 'old.json', '--yes', '--require-signature', 'ci.pub', '--max-plan-age', '2h', ...conn], 7, old)
    const fresh = await cli(['plan', 'verify', 'old.json', '--require-signature', 'ci.pub', '--max-plan-age', '4h', ...conn])
    expect(fresh.code, fresh.stderr).toBe(0)
  }, 120_000)

  it('Given apply --resume, When --stale or --max-plan-age is passed (there is no plan file to judge), Then it is refused (exit 2) in one line, nothing changed', async () => {
    const {conn} = await world('replay-resume')
    await expectRefused(conn, ['apply', '--resume', '--yes', '--stale', 'refuse', ...conn], 2, /--stale judges a plan file, and apply --resume has none/)
    await expectRefused(conn, ['apply', '--resume', '--yes', '--max-plan-age', '1h', ...conn], 2, /--max-plan-age judges a plan file, and apply --resume has none/)
    await expectRefused(conn, ['apply', '--resume', '--yes', '--max-plan-age', 'soon', ...conn], 2, /--max-plan-age|soon/)
  }, 120_000)
})
