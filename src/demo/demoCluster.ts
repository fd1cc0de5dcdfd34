import {rmSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {addNode} from '../cluster/nodeService.js'
import {initCluster} from '../cluster/initCluster.js'
import {type NodeSpec} from '../cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../cluster/serviceContext.js'
import {resolveConnection} from '../config/connectionConfig.js'
import {BugError, UserError} from '../errors/errors.js'
import {EtcdStore} from '../etcd/etcdStore.js'
import {type EtcdProcess, startEtcd} from '../localEtcd/etcdProcess.js'
import {LOCAL_DIR} from '../localEtcd/localEtcdService.js'
import {type RouterCredentials} from '../router/routerClient.js'
import {setDefaultClientTls} from '../transport/clientTls.js'
import {type TlsMaterial} from '../transport/tlsMaterial.js'
import {ChildSet, type DemoChild} from './childProcesses.js'
import {createDemoPki, DEMO_USER, type DemoPki, type DemoSecurity, issueServerCertificate, secureDemoCluster} from './demoSecurity.js'
import {waitServing} from './demoReady.js'
import {type KeptDemo, writeKeptDemo} from './keptDemo.js'
import {makeDirectories} from '../fs/makeDirectories.js'

/** DEMO_CLUSTER is the demo cluster's name in its private etcd. */
export const DEMO_CLUSTER = 'demo'

/** DemoClusterOptions size the demo's cluster. */
export interface DemoClusterOptions {
  nodes: number
  rf: number
  shards: number
  cwd: string
  /** secure: a CA and certificates in the data dir, TLS on every hop, routers demanding a user's token (see demoSecurity.ts). */
  secure: boolean
  /** keep: the processes may outlive the demo (started detached; see DemoCluster.keep). */
  keep: boolean
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
  /** dataDir is where everything lives (removed by stop), absolute. */
  dataDir: string
  /** security is set when the cluster runs secured (TLS-only, authentication on). */
  security: DemoSecurity | undefined
  /** credentials are what a client of the router presents (none on a plaintext demo). */
  credentials: RouterCredentials
  /** addNode registers one more node (`n<k>`, its own zone) and starts its process; resolves once it serves. */
  addNode(signal: AbortSignal): Promise<NodeSpec>
  /** stop stops every process, closes the store and removes the data. Idempotent. */
  stop(): Promise<void>
  /**
   * keep leaves every process running for the operator: writes `<dataDir>/kept.json`
   * (what runs, its pids, how to reach it), releases the orphan guard and closes this
   * process's etcd client, so the demo can exit. `shardctl demo stop` undoes it. After it,
   * stop does nothing.
   */
  keep(): KeptDemo
}

/** STATS_INTERVAL_MS is how often the demo's nodes publish load stats: often, so the story waits little for them to show a change. */
export const STATS_INTERVAL_MS = 500

/**
 * demoNodes names `n` nodes, one zone each, on the given loopback ports. The demo passes
 * placeholders (nothing listens on ports 1, 2, …): its nodes listen on port 0 and register the
 * port they bound, which replaces the placeholder in their record before anyone dials them.
 */
export function demoNodes(ports: number[], first = 1): NodeSpec[] {
  return ports.map((port, i) => ({id: `n${first + i}`, address: `127.0.0.1:${port}`, zone: `zone-${String.fromCharCode(97 + ((first - 1 + i) % 26))}`}))
}

/**
 * startDemoCluster starts a private etcd under `.shardctl/demo/<pid>/`, creates the demo
 * cluster with `nodes` nodes, starts their storage node processes and a router (children
 * of this package's binary, guarded by an orphan reaper so they die with the demo even on
 * SIGKILL) and resolves once all of them serve. With `secure` it first writes a CA and
 * certificates into `<dataDir>/certs`, makes the cluster TLS-only with authentication and
 * a token user (demoSecurity.ts), starts every process with TLS flags and makes this
 * process's node clients speak mutual TLS. With `keep` the children start detached, so
 * `keep()` can hand them over to the operator. On failure or `signal` everything started
 * so far is stopped and removed. Throws MISSING_DEPENDENCY without etcd; INTERNAL when a
 * process does not come up (with its output); INTERRUPTED (exit 130) when interrupted.
 */
export async function startDemoCluster(opts: DemoClusterOptions, report: (r: DemoLine) => void, signal: AbortSignal): Promise<DemoCluster> {
  const dataDir = resolve(opts.cwd, LOCAL_DIR, 'demo', String(process.pid))
  makeDirectories(dataDir)
  const children = new ChildSet({tag: dataDir, logDir: dataDir, detached: opts.keep})
  children.guardDir(dataDir)
  const onExit = () => children.killNow()
  process.once('exit', onExit)
  let etcd: EtcdProcess | undefined
  let store: EtcdStore | undefined
  let stopping: Promise<void> | undefined
  let security: DemoSecurity | undefined
  const stop = () =>
    (stopping ??= (async () => {
      setDefaultClientTls(undefined)
      await children.stopAll()
      store?.close()
      await etcd?.stop()
      children.release()
      process.off('exit', onExit)
      rmSync(dataDir, {recursive: true, force: true})
    })())
  try {
    report({type: 'step', text: 'starting a private etcd'})
    etcd = await startEtcd({dataDir: join(dataDir, 'etcd'), name: 'shardctl-demo', detached: opts.keep})
    children.guard(etcd.pid)
    report({type: 'line', text: `started a private etcd at ${etcd.endpoint} (data in ${join(LOCAL_DIR, 'demo', String(process.pid))})`})
    interrupted(signal)
    const conn = resolveConnection({flags: {endpoints: etcd.endpoint, cluster: DEMO_CLUSTER}, env: {}})
    store = new EtcdStore(conn)
    const ctx = makeServiceContext(store, conn)
    // Placeholder ports: every node and the router bind port 0 and print the port they bound, so no
    // other process can take one between choosing it and binding it (as one could a port chosen free
    // and released: a start then failed, or took that process's answer for the child's).
    const specs = demoNodes(Array.from({length: opts.nodes}, (_, i) => i + 1))
    const init = await initCluster(ctx, {shards: opts.shards, rf: opts.rf, nodes: specs, force: true})
    report({type: 'line', text: `created cluster "${DEMO_CLUSTER}": ${init.shards} shards, rf ${init.rf}, nodes ${init.nodes.map((n) => `${n.id} (${n.replicas} replicas)`).join(', ')}`})
    let pki: DemoPki | undefined
    if (opts.secure) {
      pki = await createDemoPki(dataDir, new Date())
      security = await secureDemoCluster(ctx, pki)
      // The executor's node clients (this process) dial nodes over mutual TLS.
      setDefaultClientTls(security.nodeTls)
      report({type: 'line', text: `secured: a CA and certificates in ${join(LOCAL_DIR, 'demo', String(process.pid), 'certs')}, TLS-only, routers demand a user (${DEMO_USER}, token in a 0600 file)`})
    }
    const nodeTls: TlsMaterial | undefined = security?.nodeTls
    const tlsFlags = async (name: string) => (pki ? issueServerCertificate(pki, name, new Date()) : [])

    report({type: 'step', text: `starting ${opts.nodes} storage nodes and a router`})
    const endpoint = etcd.endpoint
    const startNode = async (s: NodeSpec): Promise<DemoChild> => {
      const dir = join(dataDir, s.id)
      makeDirectories(dir)
      return children.shardctl(`node-${s.id}`, [...demoNodeArgs(s, endpoint, dir), ...(await tlsFlags(s.id))])
    }
    /** serving waits for node `s`'s own ready line and health, and takes the address it bound into its spec. */
    const serving = async (s: NodeSpec, child: DemoChild, sig: AbortSignal) => {
      s.address = await waitServing(child, {role: 'node', id: s.id, tls: nodeTls}, sig)
    }
    const nodes = await Promise.all(specs.map(async (s) => ({spec: s, child: await startNode(s)})))
    const router = children.shardctl('router', [...demoRouterArgs(DEMO_ROUTER_ID, DEMO_LISTEN, endpoint), ...(await tlsFlags(DEMO_ROUTER_ID))])
    await Promise.all(nodes.map((n) => serving(n.spec, n.child, signal)))
    const routerAddress = await waitServing(router, {role: 'router', id: DEMO_ROUTER_ID, tls: security?.routerCredentials.tls}, signal)
    report({type: 'line', text: `${opts.nodes} storage nodes serving (${specs.map((s) => `${s.id} ${s.address}`).join(', ')}); router at ${routerAddress}`})
    return {
      ctx,
      endpoint,
      router: routerAddress,
      specs,
      dataDir,
      security,
      credentials: security?.routerCredentials ?? {},
      async addNode(sig) {
        // A placeholder port no other node's record names, until the node registers the one it bound.
        const [spec] = demoNodes([specs.length + 1], specs.length + 1)
        if (!spec) throw new BugError('demoNodes named no node')
        await addNode(ctx, spec, undefined)
        specs.push(spec)
        await serving(spec, await startNode(spec), sig)
        return spec
      },
      stop,
      keep() {
        const running = [...(etcd ? [{name: 'etcd', pid: etcd.pid}] : []), ...children.list().filter((c) => !c.exited()).map((c) => ({name: c.name, pid: c.pid}))]
        const kept = keptDemoOf({dir: dataDir, endpoint, router: routerAddress, specs, processes: running, security}, new Date())
        writeKeptDemo(kept)
        stopping = Promise.resolve()
        children.release()
        process.off('exit', onExit)
        store?.close()
        setDefaultClientTls(undefined)
        return kept
      },
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** DEMO_ROUTER_ID is the demo router's id (its `routers/<id>` entry, its certificate's name). */
const DEMO_ROUTER_ID = 'demo-router'

/** DEMO_LISTEN is where every demo node and the router listen: any free loopback port, read back from their ready lines. */
const DEMO_LISTEN = '127.0.0.1:0'

/** demoNodeArgs is the `shardctl` command line of demo node `spec` (TLS flags apart): port 0, fast stats, a short lease and shutdown, fsync normal. */
export function demoNodeArgs(spec: NodeSpec, endpoint: string, dataDir: string): string[] {
  return [
    ...['node', 'serve', '--endpoints', endpoint, '--cluster', DEMO_CLUSTER, '--id', spec.id, '--listen', DEMO_LISTEN, '--data-dir', dataDir, '--zone', spec.zone],
    ...['--stats-interval', `${STATS_INTERVAL_MS}ms`, '--lease-ttl', '5s', '--fsync', 'normal', '--shutdown-timeout', '3s'],
  ]
}

/**
 * demoRouterArgs is the `shardctl` command line of the demo's router (TLS flags apart).
 * Generous node and request timeouts: the demo's etcd, nodes, router, executor and clients
 * share the machine's cores, and a starved node must be slow, not "unreachable".
 */
export function demoRouterArgs(id: string, address: string, endpoint: string): string[] {
  return [
    ...['router', 'serve', '--endpoints', endpoint, '--cluster', DEMO_CLUSTER, '--id', id, '--listen', address],
    ...['--lease-ttl', '5', '--drain-timeout', '2s', '--report-interval', '1s', '--node-timeout', '5s', '--request-timeout', '15s'],
  ]
}

/** keptDemoOf is the record `demo --keep` leaves for `demo stop` (and the operator): what runs, its pids, how to reach it. */
export function keptDemoOf(c: {dir: string; endpoint: string; router: string; specs: readonly NodeSpec[]; processes: {name: string; pid: number}[]; security: DemoSecurity | undefined}, now: Date): KeptDemo {
  return {
    version: 1,
    dir: c.dir,
    cluster: DEMO_CLUSTER,
    endpoint: c.endpoint,
    router: c.router,
    nodes: c.specs.map((s) => ({id: s.id, address: s.address})),
    processes: c.processes,
    secure: c.security ? {ca: c.security.pki.ca, tokenFile: c.security.tokenFile} : null,
    keptAt: now.toISOString(),
  }
}

function interrupted(signal: AbortSignal): void {
  if (signal.aborted) throw new UserError('INTERRUPTED', 'demo interrupted', 'nothing was left running')
}
