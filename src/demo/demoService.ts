import {mkdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {clusterStatus, type ClusterStatus} from '../cluster/clusterStatus.js'
import {initCluster, type InitClusterResult} from '../cluster/initCluster.js'
import {type NodeSpec} from '../cluster/nodeSpec.js'
import {makeServiceContext} from '../cluster/serviceContext.js'
import {locateKey, type KeyLocation} from '../cluster/shardService.js'
import {resolveConnection} from '../config/connectionConfig.js'
import {EtcdStore} from '../etcd/etcdStore.js'
import {type EtcdProcess, startEtcd} from '../localEtcd/etcdProcess.js'
import {LOCAL_DIR} from '../localEtcd/localEtcdService.js'

/** DemoOptions sizes the demo cluster. */
export interface DemoOptions {
  nodes: number
  rf: number
  shards: number
  cwd: string
}

/** DemoStep is one thing the demo did, reported as it happens so the command can render it. */
export type DemoStep =
  | {step: 'etcd'; endpoint: string; dataDir: string}
  | {step: 'init'; result: InitClusterResult}
  | {step: 'status'; status: ClusterStatus}
  | {step: 'locate'; locations: KeyLocation[]}
  | {step: 'stopped'}

/** DemoResult is the demo's summary (its --json output). */
export interface DemoResult {
  endpoint: string
  cluster: string
  nodes: number
  shards: number
  rf: number
  steps: DemoStep['step'][]
}

/** demoNodes names `n` sample nodes spread over three zones on loopback ports. */
export function demoNodes(n: number): NodeSpec[] {
  return Array.from({length: n}, (_, i) => ({id: `n${i + 1}`, address: `127.0.0.1:${17001 + i}`, zone: `zone-${String.fromCharCode(97 + (i % 3))}`}))
}

/**
 * runDemo starts a private etcd under `.shardctl/demo/`, creates a sample cluster, reports
 * its status and where sample keys live, then stops etcd and removes its data — also when
 * a step fails or `signal` aborts (Ctrl-C), so nothing is left running.
 */
export async function runDemo(opts: DemoOptions, report: (s: DemoStep) => void, signal?: AbortSignal): Promise<DemoResult> {
  const dataDir = join(opts.cwd, LOCAL_DIR, 'demo', String(process.pid))
  mkdirSync(dataDir, {recursive: true})
  let etcd: EtcdProcess | undefined
  let store: EtcdStore | undefined
  const steps: DemoStep['step'][] = []
  const emit = (s: DemoStep) => {
    steps.push(s.step)
    report(s)
    signal?.throwIfAborted()
  }
  try {
    etcd = await startEtcd({dataDir, name: 'shardctl-demo'})
    emit({step: 'etcd', endpoint: etcd.endpoint, dataDir})
    const conn = resolveConnection({flags: {endpoints: etcd.endpoint, cluster: 'demo'}, env: {}})
    store = new EtcdStore(conn)
    const ctx = makeServiceContext(store, conn)
    emit({step: 'init', result: await initCluster(ctx, {shards: opts.shards, rf: opts.rf, nodes: demoNodes(opts.nodes), force: true})})
    emit({step: 'status', status: await clusterStatus(ctx)})
    emit({step: 'locate', locations: await Promise.all(['user:42', 'order:2026-11-29', 'session:abc'].map((k) => locateKey(ctx, k)))})
    return {endpoint: etcd.endpoint, cluster: 'demo', nodes: opts.nodes, shards: opts.shards, rf: opts.rf, steps: [...steps, 'stopped']}
  } finally {
    store?.close()
    await etcd?.stop()
    rmSync(dataDir, {recursive: true, force: true})
    report({step: 'stopped'})
  }
}
