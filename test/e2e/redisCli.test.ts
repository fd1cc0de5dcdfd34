import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {freePort} from '../../src/localEtcd/freePort.js'
import {runCli} from '../support/runCli.js'
import {uniqueCluster} from '../support/testStore.js'

/**
 * Bad input to the redis engine's commands: a one-line error naming what is wrong and how to
 * fix it, the documented exit code, and nothing written to etcd. No redis-server needed: the
 * refusals come before (or instead of) reaching one.
 */

let cwd: string
let endpoint: string
const cluster = uniqueCluster('redis-cli')
const cli = (args: string[]) => runCli([...args, '--endpoints', endpoint, '--cluster', cluster], {cwd})

beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-redis-cli-'))
  endpoint = inject('etcdEndpoint')
})
afterAll(() => rmSync(cwd, {recursive: true, force: true}))

describe('redis engine CLI refusals', () => {
  it('cluster init --engine redis needs --seed and refuses kv-only flags (exit 2), writing nothing', async () => {
    const noSeed = await cli(['cluster', 'init', '--engine', 'redis'])
    expect(noSeed.code).toBe(2)
    expect(noSeed.stderr).toMatch(/--engine redis needs --seed HOST:PORT/)
    const withNodes = await cli(['cluster', 'init', '--engine', 'redis', '--seed', '127.0.0.1:7000', '--nodes', 'n1=127.0.0.1:7001'])
    expect(withNodes.code).toBe(2)
    expect(withNodes.stderr).toMatch(/drop --nodes and --shards/)
    const kvNoShards = await cli(['cluster', 'init', '--nodes', 'n1=127.0.0.1:7001'])
    expect(kvNoShards.code).toBe(2)
    expect(kvNoShards.stderr).toMatch(/needs --shards and --nodes/)
    const status = await cli(['cluster', 'status'])
    expect(status.code).toBe(1)
    expect(status.stderr).toMatch(/does not exist/)
  })

  it('a seed nobody listens on is NODE_UNREACHABLE (exit 17) and a malformed one BAD_INPUT (exit 2); nothing is written', async () => {
    const port = await freePort()
    const down = await cli(['cluster', 'init', '--engine', 'redis', '--seed', `127.0.0.1:${port}`])
    expect(down.code).toBe(17)
    expect(down.stderr).toMatch(new RegExp(`redis node 127.0.0.1:${port} did not answer`))
    const bad = await cli(['cluster', 'init', '--engine', 'redis', '--seed', 'localhost'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/redis address "localhost" is not host:port/)
    expect((await cli(['cluster', 'status'])).code).toBe(1)
  })

  it('redis fix refuses a kv cluster (exit 2)', async () => {
    const init = await cli(['cluster', 'init', '--shards', '2', '--rf', '1', '--nodes', 'n1=127.0.0.1:7001'])
    expect(init.code, init.stderr).toBe(0)
    const fix = await cli(['redis', 'fix'])
    expect(fix.code).toBe(2)
    expect(fix.stderr).toMatch(/uses the kv engine, not redis/)
  })
})
