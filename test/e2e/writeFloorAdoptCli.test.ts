import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {keysOf} from '../../src/etcd/keys.js'
import {parseWriteFloor} from '../../src/model/writeFloor.js'
import {type RouterRecord} from '../../src/router/routerRegistration.js'
import {EXIT_CODES} from '../../src/errors/codes.js'
import {answerInPty, HAS_SCRIPT as hasScript} from '../support/pty.js'
import {CLI_BIN, runCli, type CliResult} from '../support/runCli.js'
import {StoreSet, uniqueCluster} from '../support/testStore.js'

// `cluster write-floor adopt` as an operator runs it, on the shared etcd, against clusters
// made to look as an older build left them (no write-floor key). Each CLI start costs about
// a second on an idle machine (many more on a loaded one), hence the long timeouts.
let cwd: string
let endpoint: string
const stores = new StoreSet()

async function cli(cluster: string, args: string[]): Promise<CliResult> {
  return runCli([...args, '--endpoints', endpoint, '--cluster', cluster], {cwd, timeoutMs: 60_000})
}

/** oldCluster creates a cluster with the CLI, then deletes its write floor: what a cluster from before the floor has. */
async function oldCluster(label: string) {
  const cluster = uniqueCluster(label)
  const init = await cli(cluster, ['cluster', 'init', '--shards', '2', '--rf', '3', '--nodes', 'n1=127.0.0.1:1@a,n2=127.0.0.1:2@b,n3=127.0.0.1:3@c'])
  expect(init.code, init.stderr).toBe(0)
  const store = stores.open(endpoint, cluster)
  const keys = keysOf(cluster)
  await store.delete(keys.writeFloor)
  return {cluster, store, keys, floor: () => store.get(keys.writeFloor)}
}


beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-adoptcli-'))
  endpoint = inject('etcdEndpoint')
})
afterAll(() => {
  stores.closeAll()
  rmSync(cwd, {recursive: true, force: true})
})

describe('shardctl cluster write-floor adopt', () => {
  it('refuses bad input and a missing --yes (exit 2, nothing written), creates the floor when absent, then refuses to touch it (exit 6)', async () => {
    const c = await oldCluster('adopt')
    const status = await cli(c.cluster, ['cluster', 'status'])
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toContain('`shardctl cluster write-floor adopt --lowest-w N|majority`')

    for (const bad of [['--lowest-w', '0'], ['--lowest-w', 'fast'], []]) {
      const r = await cli(c.cluster, ['cluster', 'write-floor', 'adopt', '--yes', ...bad])
      expect(r.code, `${bad.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toContain('--lowest-w')
      expect(r.stderr.trim().split('\n')[0]).toMatch(/^Error: /)
    }
    // No terminal to ask on (stdin is not one here) and no --yes: refused before anything is written.
    const unconfirmed = await cli(c.cluster, ['cluster', 'write-floor', 'adopt', '--lowest-w', '2'])
    expect(unconfirmed.code, unconfirmed.stderr).toBe(2)
    expect(unconfirmed.stderr).toContain('pass --yes')
    expect(await c.floor()).toBeUndefined()

    const adopted = await cli(c.cluster, ['cluster', 'write-floor', 'adopt', '--lowest-w', '2', '--yes', '--json'])
    expect(adopted.code, adopted.stderr).toBe(0)
    expect(adopted.stderr).toContain('moves with a down source may then copy from, and verify against, the other voters of shards with >= 2 voters (w = 2 at rf 3)')
    expect(JSON.parse(adopted.stdout)).toMatchObject({cluster: c.cluster, rf: 3, routers: 0, floor: {w: 2, majority: false}, loweredAfter: []})
    const written = await c.floor()
    expect(parseWriteFloor(written!.value)).toMatchObject({w: 2, majority: false, by: null, adopted: {lowestW: '2', routers: 0}})

    const again = await cli(c.cluster, ['cluster', 'write-floor', 'adopt', '--lowest-w', 'majority', '--yes'])
    expect(again.code, again.stderr).toBe(6)
    expect(again.stderr).toContain('already has a write floor')
    expect(await c.floor()).toEqual(written)
  }, 300_000)

  it('a registered --w 1 router keeps the floor at 1 although the operator says majority', async () => {
    const c = await oldCluster('adopt-w1')
    const now = new Date().toISOString()
    const router: RouterRecord = {id: 'r1', address: '127.0.0.1:9', pid: 1, startedAt: now, updatedAt: now, mapRevision: '1', epochs: {}, p99Ms: null, w: 1}
    await c.store.put(c.keys.router('r1'), JSON.stringify(router))
    const r = await cli(c.cluster, ['cluster', 'write-floor', 'adopt', '--lowest-w', 'majority', '--yes'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('w = 1 at every shard size, so moves with a down source still wait for it')
    expect(parseWriteFloor((await c.floor())!.value)).toMatchObject({w: 1, majority: true, adopted: {lowestW: 'majority', routers: 1}})
  }, 120_000)

  it.skipIf(!hasScript)('in a terminal it says what the floor will allow and asks: N exits 19 and writes nothing, y creates it', async () => {
    const c = await oldCluster('adopt-pty')
    const cmd = `exec ${process.execPath} ${CLI_BIN} cluster write-floor adopt --lowest-w majority --endpoints ${endpoint} --cluster ${c.cluster}`
    const question = /ever ran with a smaller write quorum than --lowest-w majority: adopt this write floor\? \[y\/N\]/
    const declined = await answerInPty(cwd, cmd, question, 'n\r')
    expect(declined.code, declined.screen).toBe(EXIT_CODES.DECLINED)
    expect(declined.screen).toContain('moves with a down source may then copy from, and verify against, the other voters of shards with >= 2 voters (w = 2 at rf 3)')
    expect(await c.floor()).toBeUndefined()
    const accepted = await answerInPty(cwd, cmd, question, 'y\r')
    expect(accepted.code, accepted.screen).toBe(0)
    expect(parseWriteFloor((await c.floor())!.value)).toMatchObject({w: null, majority: true, adopted: {lowestW: 'majority'}})
  }, 180_000)
})

describe('shardctl cluster write-floor', () => {
  it('shows the floor as cluster status words it (absent, then adopted), with --json, and refuses a cluster that does not exist (exit 1)', async () => {
    const c = await oldCluster('floorshow')
    const absent = await cli(c.cluster, ['cluster', 'write-floor', '--json'])
    expect(absent.code, absent.stderr).toBe(0)
    expect(JSON.parse(absent.stdout)).toMatchObject({cluster: c.cluster, rf: 3, floor: null, unreadable: false})
    const adopt = await cli(c.cluster, ['cluster', 'write-floor', 'adopt', '--lowest-w', '2', '--yes'])
    expect(adopt.code, adopt.stderr).toBe(0)
    const shown = await cli(c.cluster, ['cluster', 'write-floor'])
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toMatch(new RegExp(`^cluster ${c.cluster}: write floor: --w 2 \\(adopted at `))
    const missing = await cli(`${c.cluster}-nosuch`, ['cluster', 'write-floor'])
    expect(missing.code).toBe(EXIT_CODES.NOT_FOUND)
    expect(missing.stderr).toMatch(/^Error: .*does not exist/)
  }, 240_000)
})
