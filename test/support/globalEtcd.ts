import {mkdtempSync, rmSync} from 'node:fs'
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
 * setup is the integration project's global setup: it starts ONE etcd on free ports in a
 * temp dir, provides its endpoint to test files (`inject('etcdEndpoint')`) and returns the
 * teardown that stops it and removes the dir. Test files isolate themselves by cluster name.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-test-etcd-'))
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
