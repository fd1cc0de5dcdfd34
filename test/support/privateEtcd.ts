import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {type EtcdProcess, type StartEtcdOptions, startEtcd} from '../../src/localEtcd/etcdProcess.js'
import {trackPid, untrackPid} from './processReaper.js'

/** PrivateEtcd is an etcd owned by one test file, which may stop, restart or reconfigure it. */
export interface PrivateEtcd {
  etcd: EtcdProcess
  endpoint: string
  /** restart stops and starts it on the same ports and data. */
  restart(): Promise<void>
  /** dispose stops it and removes its data dir. Idempotent. */
  dispose(): Promise<void>
}

/**
 * startPrivateEtcd starts an etcd on free ports in its own temp dir (for tests that must
 * restart it, compact it, or run it with TLS or auth without disturbing other files).
 * Call dispose() in afterAll; a crashed worker still kills it on exit.
 */
export async function startPrivateEtcd(opts: Omit<StartEtcdOptions, 'dataDir'> = {}): Promise<PrivateEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-test-private-etcd-'))
  let etcd: EtcdProcess
  try {
    etcd = await startEtcd({name: 'shardctl-private', ...opts, dataDir: dir})
  } catch (err) {
    rmSync(dir, {recursive: true, force: true})
    throw err
  }
  trackPid(etcd.pid)
  let disposed: Promise<void> | undefined
  return {
    etcd,
    endpoint: etcd.endpoint,
    async restart() {
      untrackPid(etcd.pid)
      await etcd.restart()
      trackPid(etcd.pid)
    },
    dispose() {
      disposed ??= (async () => {
        await etcd.stop()
        untrackPid(etcd.pid)
        rmSync(dir, {recursive: true, force: true})
      })()
      return disposed
    },
  }
}
