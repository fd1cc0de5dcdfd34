import {accessSync, constants, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {TestProject} from 'vitest/node'
import {startEtcd} from '../../src/localEtcd/etcdProcess.js'
import {killTracked, trackPid, untrackPid} from './processReaper.js'

declare module 'vitest' {
  interface ProvidedContext {
    /** etcdEndpoint is the client URL of the etcd shared by every integration test file. */
    etcdEndpoint: string
  }
}

/**
 * ETCD_PARENT_DIR holds the shared etcd's data: /dev/shm (tmpfs) where there is one. etcd
 * fsyncs its WAL on every commit, which on the CI runner's disk took about 3 ms a write
 * (1.7 ms on tmpfs, where fsync returns at once): every file pays it on each of its etcd
 * writes. A killed etcd keeps its data on tmpfs as on disk (only a power cut loses it), so
 * nothing a test checks changes; tests of etcd's own failures run private etcds
 * (privateEtcd.ts) on disk.
 */
function etcdParentDir(): string {
  try {
    accessSync('/dev/shm', constants.W_OK)
    return '/dev/shm'
  } catch {
    return tmpdir()
  }
}

/**
 * setup is the integration project's global setup: it starts ONE etcd on free ports in a
 * temp dir (tmpfs where there is one), provides its endpoint to test files (`inject('etcdEndpoint')`) and returns the
 * teardown that stops it and removes the dir. Test files isolate themselves by cluster name.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(etcdParentDir(), 'shardctl-test-etcd-'))
  const etcd = await startEtcd({dataDir: dir, name: 'shardctl-test'})
  trackPid(etcd.pid)
  project.provide('etcdEndpoint', etcd.endpoint)
  // A signal skips 'exit' hooks: kill etcd here, then re-raise if nobody else handles it.
  const onSignal = (signal: NodeJS.Signals) => {
    killTracked()
    rmSync(dir, {recursive: true, force: true})
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  return async () => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await etcd.stop()
    untrackPid(etcd.pid)
    rmSync(dir, {recursive: true, force: true})
  }
}
