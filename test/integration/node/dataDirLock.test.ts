import {createHash} from 'node:crypto'
import {readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import {mkdtemp} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, inject, it} from 'vitest'
import {readLockHolder} from '../../../src/node/dataDirLock.js'
import {type CliChild} from '../../support/cliChild.js'
import {exitedWithin} from '../../support/daemonProbe.js'
import {waitFor} from '../router/dataPlane.js'
import {spawnNodeProcess, startNodeProcess} from './nodeProcess.js'
import {registerCluster, type RegisteredCluster} from './twoNodeCluster.js'

/**
 * A node frozen (SIGSTOP) past its lease is judged gone. A replacement started on the SAME data
 * dir (same host, or a shared volume) must not open the database beside it: once resumed, the
 * frozen one's background work (orphan sweep, range drops) would delete rows the replacement
 * acknowledged. The dir's lock (src/node/dataDirLock.ts) refuses the replacement until the
 * frozen process is gone.
 */

const children: CliChild[] = []
const dirs: string[] = []
let cluster: RegisteredCluster | undefined

afterAll(async () => {
  for (const c of children) c.signal('SIGCONT')
  await Promise.all(children.map((c) => c.kill()))
  cluster?.close()
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

/** dirState is every file of `dir` with its size, mtime and content hash: a refused start must change none. */
function dirState(dir: string): Record<string, string> {
  const state: Record<string, string> = {}
  for (const name of readdirSync(dir).sort()) {
    const file = join(dir, name)
    const st = statSync(file)
    state[name] = `${st.size} ${st.mtimeMs} ${createHash('sha256').update(readFileSync(file)).digest('hex')}`
  }
  return state
}

describe('node serve: a data dir another process holds', () => {
  it('given n1 frozen (SIGSTOP) past its lease, when n1 is started again on the same dir, then it exits 8 naming the dir and the frozen pid, changing nothing; once the frozen one is SIGKILLed, it starts and serves', async () => {
    cluster = await registerCluster(inject('etcdEndpoint'), 'dirlock', {shards: 1, rf: 1, nodes: ['n1']})
    const dir = await mkdtemp(join(tmpdir(), 'shardctl-dirlock-n1-'))
    dirs.push(dir)
    const frozen = await startNodeProcess({...cluster.connection, id: 'n1', port: cluster.ports.n1!, dataDir: dir, leaseTtl: '2s'})
    children.push(frozen)
    frozen.signal('SIGSTOP')
    const before = dirState(dir)
    // Its lease lapses: etcd deletes alive/n1, so the id is judged free.
    await waitFor(async () => ((await cluster!.alivePid('n1')) === undefined ? true : undefined), 'the frozen node lease to lapse', 20_000)

    // Another port: the frozen process still has its listener.
    const second = spawnNodeProcess({...cluster.connection, id: 'n1', port: 0, dataDir: dir, leaseTtl: '2s', statsInterval: null})
    children.push(second)
    expect(await exitedWithin(second, 30_000), second.logs()).toBe(8)
    const lines = second.logs().trim().split('\n')
    expect(lines, second.logs()).toHaveLength(1)
    expect(lines[0]).toContain(`data dir ${dir} is in use by pid ${frozen.pid}`)
    expect(lines[0]).toMatch(/this process changed nothing — .*a frozen one .* must be killed/)
    expect(dirState(dir)).toEqual(before)
    expect(await cluster.alivePid('n1')).toBeUndefined()

    frozen.signal('SIGKILL')
    await frozen.exited
    const replacement = await startNodeProcess({...cluster.connection, id: 'n1', port: 0, dataDir: dir, leaseTtl: '2s'})
    children.push(replacement)
    expect(await cluster.alivePid('n1')).toBe(replacement.pid)
    expect(readLockHolder(dir)?.pid).toBe(replacement.pid)
    await replacement.kill()
  }, 120_000)
})
