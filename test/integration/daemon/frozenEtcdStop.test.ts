import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type CliChild, spawnCli} from '../../support/cliChild.js'
import {exitedWithin} from '../../support/daemonProbe.js'
import {type PrivateEtcd, startPrivateEtcd} from '../../support/privateEtcd.js'
import {DataPlane, waitFor} from '../router/dataPlane.js'

/**
 * A graceful stop (SIGTERM) while etcd is frozen (SIGSTOP): etcd3's watch cancel, lease
 * revoke and every call in flight wait for etcd, and a stopped daemon stayed alive while an
 * etcd call was pending. The stated bounds: a node exits within --shutdown-timeout + 7 s
 * (final write mark 3 s, lease revoke and watch cancels at once 3 s, exit 1 s), a router
 * within --drain-timeout + 5 s, an autopilot within 11 s; all with exit 0, etcd's part best
 * effort (leases expire by their TTL).
 */

/** BOUND_MS: far above every stated bound on a loaded machine (each took about 4 s here); before, the node took 12.7 s, the router 13.5 s and the autopilot more than 90 s. */
const BOUND_MS = 25_000

let etcd: PrivateEtcd
let dp: DataPlane
let autopilot: CliChild
let plansDir: string
// Each etcd call waits a minute: only the stop's own bounds can end its waits.
const SLOW_ETCD = {SHARDCTL_ETCD_TIMEOUT_MS: '60000'}

beforeAll(async () => {
  etcd = await startPrivateEtcd()
  dp = new DataPlane(etcd.endpoint, 'frozenstop')
  dp.childEnv = () => SLOW_ETCD
  dp.nodeArgs = ['--shutdown-timeout', '2s']
  await dp.init(1, 1, 1)
  await dp.startRouter('r1', ['--drain-timeout', '2s'])
  plansDir = mkdtempSync(join(tmpdir(), 'shardctl-frozenstop-plans-'))
  autopilot = spawnCli(['autopilot', '--id', 'a1', '--endpoints', etcd.endpoint, '--cluster', dp.cluster, '--interval', '1s', '--lease-ttl', '3s', '--plans-dir', plansDir], SLOW_ETCD)
  await waitFor(async () => (/"leading"/.test(autopilot.logs()) ? true : undefined), 'the autopilot to lead', 30_000)
}, 90_000)

afterAll(async () => {
  try {
    process.kill(etcd.etcd.pid, 'SIGCONT')
  } catch {
    // already running or gone
  }
  await autopilot?.kill()
  await dp?.teardown()
  await etcd?.dispose()
  if (plansDir) rmSync(plansDir, {recursive: true, force: true})
})

describe('graceful stop while etcd is frozen', () => {
  it('Given a node, a router and an autopilot on an etcd that stops answering (SIGSTOP), When each gets SIGTERM (and another once its stop is done), Then each exits 0 while etcd is still frozen', {timeout: 90_000}, async () => {
    const daemons: [string, CliChild][] = [['node', dp.nodes.n1!], ['router', dp.routers[0]!], ['autopilot', autopilot]]
    process.kill(etcd.etcd.pid, 'SIGSTOP')
    try {
      for (const [, d] of daemons) d.signal('SIGTERM')
      // Each stop's done line, after which only the 1 s exit linger (etcd calls pending) is left:
      // a second SIGTERM there must exit 0 at once, not die of Node's default action (143).
      const doneLine: Record<string, (d: CliChild) => boolean> = {
        node: (d) => /node n1 stopped/.test(d.stdout()),
        router: (d) => /drained; exiting|drain deadline passed/.test(d.logs()),
        autopilot: (d) => /"SIGTERM: stopped"/.test(d.logs()),
      }
      const secondSignals = daemons.map(async ([name, d]) => {
        for (const until = Date.now() + BOUND_MS; !d.gone() && Date.now() < until; await new Promise((r) => setTimeout(r, 2))) {
          if (doneLine[name]!(d)) return d.signal('SIGTERM')
        }
      })
      const codes = await Promise.all(daemons.map(async ([name, d]) => [name, await exitedWithin(d, BOUND_MS)] as const))
      await Promise.all(secondSignals)
      for (const [name, code] of codes) if (code !== 0) console.log(name, code, daemons.find(([n]) => n === name)![1].logs().slice(-3000))
      expect(Object.fromEntries(codes)).toEqual({node: 0, router: 0, autopilot: 0})
    } finally {
      process.kill(etcd.etcd.pid, 'SIGCONT')
    }
    expect(dp.nodes.n1!.stdout()).toMatch(/node n1 stopped \(SIGTERM\)/)
  })
})
