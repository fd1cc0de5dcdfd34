import {mkdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {addNode} from '../cluster/nodeService.js'
import {initCluster} from '../cluster/initCluster.js'
import {type NodeSpec} from '../cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../cluster/serviceContext.js'
import {resolveConnection} from '../config/connectionConfig.js'
import {UserError} from '../errors/errors.js'
import {EtcdStore} from '../etcd/etcdStore.js'
import {type EtcdProcess, startEtcd} from '../localEtcd/etcdProcess.js'
import {freePort} from '../localEtcd/freePort.js'
import {LOCAL_DIR} from '../localEtcd/localEtcdService.js'
import {ChildSet, type DemoChild} from './childProcesses.js'

/** DEMO_CLUSTER is the demo cluster's name in its private etcd. */
export const DEMO_CLUSTER = 'demo'

/** DemoClusterOptions size the demo's cluster. */
export interface DemoClusterOptions {
  nodes: number
  rf: number
  shards: number
  cwd: string
}

/** DemoLine is what starting the cluster tells the story: a step (headline) or a line (detail). */
export type DemoLine = {type: 'step'; text: string} | {type: 'line'; text: string}

/** DemoCluster is a running demo cluster on 127.0.0.1: etcd, storage nodes and one router, all children of this process. */
export interface DemoCluster {
  ctx: ServiceContext
  /** endpoint is the private etcd's client URL. */
  endpoint: string
  /** router is the router's `host:port`. */
  router: string
  specs: NodeSpec[]
  /** dataDir is where everything lives (removed by stop). */
  dataDir: string
  /** addNode registers one more node (`n<k>`, its own zone) and starts its process; resolves once it serves. */
  addNode(signal: AbortSignal): Promise<NodeSpec>
  /** stop stops every process, closes the store and removes the data. Idempotent. */
  stop(): Promise<void>
}

/** demoNodes names `n` nodes, one zone each, on the given loopback ports. */
export function demoNodes(ports: number[], first = 1): NodeSpec[] {
  return ports.map((port, i) => ({id: `n${first + i}`, address: `127.0.0.1:${port}`, zone: `zone-${String.fromCharCode(97 + ((first - 1 + i) % 26))}`}))
}

/**
 * startDemoCluster starts a private etcd under `.shardctl/demo/<pid>/`, creates the demo
 * cluster with `nodes` nodes, starts their storage node processes and a router (children
 * of this package's binary, guarded by an orphan reaper so they die with the demo even on
 * SIGKILL) and resolves once all of them serve. On failure or `signal` everything started
 * so far is stopped and removed. Throws MISSING_DEPENDENCY without etcd; INTERNAL when a
 * process does not come up (with its output); PRECONDITION when interrupted.
 */
export async function startDemoCluster(opts: DemoClusterOptions, report: (r: DemoLine) => void, signal: AbortSignal): Promise<DemoCluster> {
  const dataDir = join(opts.cwd, LOCAL_DIR, 'demo', String(process.pid))
  mkdirSync(dataDir, {recursive: true})
  const children = new ChildSet(dataDir)
  children.guardDir(dataDir)
  const onExit = () => children.killNow()
  process.once('exit', onExit)
  let etcd: EtcdProcess | undefined
  let store: EtcdStore | undefined
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      await children.stopAll()
      store?.close()
      await etcd?.stop()
      children.release()
      process.off('exit', onExit)
      rmSync(dataDir, {recursive: true, force: true})
    })())
  try {
    report({type: 'step', text: 'starting a private etcd'})
    etcd = await startEtcd({dataDir: join(dataDir, 'etcd'), name: 'shardctl-demo'})
    children.guard(etcd.pid)
    report({type: 'line', text: `started a private etcd at ${etcd.endpoint} (data in ${join(LOCAL_DIR, 'demo', String(process.pid))})`})
    interrupted(signal)
    const conn = resolveConnection({flags: {endpoints: etcd.endpoint, cluster: DEMO_CLUSTER}, env: {}})
    store = new EtcdStore(conn)
    const ctx = makeServiceContext(store, conn)
    const ports = await Promise.all(Array.from({length: opts.nodes}, () => freePort()))
    const specs = demoNodes(ports)
    const init = await initCluster(ctx, {shards: opts.shards, rf: opts.rf, nodes: specs, force: true})
    report({type: 'line', text: `created cluster "${DEMO_CLUSTER}": ${init.shards} shards, rf ${init.rf}, nodes ${init.nodes.map((n) => `${n.id} (${n.replicas} replicas)`).join(', ')}`})

    report({type: 'step', text: `starting ${opts.nodes} storage nodes and a router`})
    const endpoint = etcd.endpoint
    const startNode = (s: NodeSpec): DemoChild => {
      const dir = join(dataDir, s.id)
      mkdirSync(dir, {recursive: true})
      const args = ['node', 'serve', '--endpoints', endpoint, '--cluster', DEMO_CLUSTER, '--id', s.id, '--listen', s.address, '--data-dir', dir, '--zone', s.zone]
      return children.shardctl(`node ${s.id}`, [...args, '--stats-interval', '1s', '--lease-ttl', '5s', '--fsync', 'normal', '--shutdown-timeout', '3s'])
    }
    const nodes = specs.map((s) => ({spec: s, child: startNode(s)}))
    let routerOut = ''
    // Generous node/request timeouts: the demo's etcd, nodes, router, executor and clients
    // share the machine's cores, and a starved node must be slow, not "unreachable".
    const router = children.shardctl('router', ['router', 'serve', '--endpoints', endpoint, '--cluster', DEMO_CLUSTER, '--id', 'demo-router', '--listen', '127.0.0.1:0', '--lease-ttl', '5', '--drain-timeout', '2s', '--report-interval', '1s', '--node-timeout', '5s', '--request-timeout', '15s'], (t) => (routerOut += t))
    await Promise.all(nodes.map((n) => waitServing(n.child, `http://${n.spec.address}/healthz`, signal)))
    const routerAddress = await waitFor(router, () => / on (127\.0\.0\.1:\d+)/.exec(routerOut)?.[1], signal)
    await waitServing(router, `http://${routerAddress}/healthz`, signal)
    report({type: 'line', text: `${opts.nodes} storage nodes serving (${specs.map((s) => `${s.id} ${s.address}`).join(', ')}); router at ${routerAddress}`})
    return {
      ctx,
      endpoint,
      router: routerAddress,
      specs,
      dataDir,
      async addNode(sig) {
        const spec = demoNodes([await freePort()], specs.length + 1)[0]!
        await addNode(ctx, spec, undefined)
        specs.push(spec)
        await waitServing(startNode(spec), `http://${spec.address}/healthz`, sig)
        return spec
      },
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

function interrupted(signal: AbortSignal): void {
  if (signal.aborted) throw new UserError('PRECONDITION', 'demo interrupted', 'nothing was left running')
}

/** waitFor polls `get` until it gives a value (bounded: 90 s), failing early when `child` exits. */
async function waitFor<T>(child: DemoChild, get: () => T | undefined, signal: AbortSignal): Promise<T> {
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline && !signal.aborted) {
    const v = get()
    if (v !== undefined) return v
    if (child.exited()) throw new UserError('INTERNAL', `${child.name} exited while starting: ${child.output().slice(-600)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new UserError(signal.aborted ? 'PRECONDITION' : 'INTERNAL', signal.aborted ? 'demo interrupted' : `${child.name} did not start within 90 s: ${child.output().slice(-600)}`)
}

/** waitServing waits (bounded: 90 s) until `url` (a /healthz) answers 200 and does not say it is not serving yet. */
async function waitServing(child: DemoChild, url: string, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline && !signal.aborted) {
    if (child.exited()) throw new UserError('INTERNAL', `${child.name} exited while starting: ${child.output().slice(-600)}`)
    try {
      const res = await fetch(url, {signal: AbortSignal.timeout(1000)})
      const body = (await res.json().catch(() => ({}))) as {serving?: boolean}
      if (res.ok && body.serving !== false) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150))
  }
  throw new UserError(signal.aborted ? 'PRECONDITION' : 'INTERNAL', signal.aborted ? 'demo interrupted' : `${child.name} did not serve within 90 s: ${child.output().slice(-600)}`)
}
