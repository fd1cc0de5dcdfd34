import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {createConnection} from 'node:net'
import {join} from 'node:path'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {freePort} from '../../../src/localEtcd/freePort.js'
import {discoverTopology} from '../../../src/redis/discovery.js'
import {trackPid, untrackPid} from '../../support/processReaper.js'
import {redisAvailable} from '../../support/redisCluster.js'

/**
 * Hunt (s35, redis): a seed that is a Redis, but not one shardctl can drive. A server that wants
 * a password answered CLUSTER NODES with NOAUTH, and the refusal's way out said to start it in
 * cluster mode (shardctl has no password option: the way out is a node it can talk to).
 */

const available = await redisAvailable()
let dir: string
const servers: ChildProcess[] = []

/** listening tells whether something accepts a TCP connection on 127.0.0.1:`port` (a server wanting a password refuses ioredis's ready check). */
function listening(port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = createConnection({host: '127.0.0.1', port}, () => {
      sock.destroy()
      res(true)
    })
    sock.on('error', () => res(false))
  })
}

/** startPlain starts a redis-server that is not in cluster mode, with `args`, and returns its address. */
async function startPlain(args: string[]): Promise<string> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], {stdio: 'ignore'})
  trackPid(child.pid)
  servers.push(child)
  const address = `127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    if (await listening(port)) return address
    await sleepFor(100)
  }
  throw new Error(`redis-server did not start on ${address}`)
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-redis-seed-'))
})
afterAll(async () => {
  await Promise.all(servers.map((c) => new Promise<void>((res) => {
    if (c.exitCode !== null || c.signalCode !== null) return res()
    c.once('exit', () => res())
    c.kill('SIGKILL')
  })))
  for (const c of servers) untrackPid(c.pid)
  rmSync(dir, {recursive: true, force: true})
})

describe.skipIf(!available)('a seed shardctl cannot drive', () => {
  it('a server that wants a password: BAD_INPUT naming the password, not cluster mode', async () => {
    const seed = await startPlain(['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'auth-nodes.conf'), '--requirepass', 'secret'])
    const err = await discoverTopology(seed).catch((e: unknown) => e)
    expect(err).toMatchObject({code: 'BAD_INPUT'})
    expect((err as Error).message).toMatch(new RegExp(`redis node ${seed} wants a password \\(NOAUTH`))
    expect((err as {hint: string}).hint).toMatch(/does not authenticate/)
    expect((err as {hint: string}).hint).not.toMatch(/cluster-enabled/)
  })

  it('a server not in cluster mode: BAD_INPUT whose way out is cluster mode', async () => {
    const seed = await startPlain([])
    const err = await discoverTopology(seed).catch((e: unknown) => e)
    expect(err).toMatchObject({code: 'BAD_INPUT'})
    expect((err as Error).message).toMatch(/cluster support disabled/)
    expect((err as {hint: string}).hint).toMatch(/--cluster-enabled yes/)
  })
})
