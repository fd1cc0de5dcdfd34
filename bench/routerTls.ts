/**
 * bench/routerTls.ts — what TLS costs the router, measured in one run (`npm run bench:router-tls`).
 *
 * Starts a private etcd and two rf-1 clusters side by side on 127.0.0.1 at run-time ports,
 * each one real `shardctl node serve` and one `shardctl router serve` process: `plaintext`,
 * and `tls` (TLS-only cluster: the router serves HTTPS and dials its node over mutual TLS,
 * certificates from the product's own `cert` code, ECDSA P-256). A bounded load generator in
 * this process sends PUT and GET of small values to each router over keep-alive connections
 * (handshakes are paid once per connection, as a real client pool does), in ROUNDS
 * interleaved rounds (medians reported) so background load hits both alike: a latency phase
 * (1 in flight, ≤ LATENCY_OPS) and a throughput phase (CONCURRENCY in flight for DURATION).
 * Prints TLS/plaintext ratios. Env: BENCH_DURATION_MS (2000), BENCH_ROUNDS (3),
 * BENCH_CONCURRENCY (32), BENCH_LATENCY_OPS (1000), BENCH_VALUE (100 bytes), BENCH_KEYS (2000).
 * Everything it starts is killed at exit.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {Pool, request} from 'undici'
import {initCluster} from '../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../src/cluster/serviceContext.js'
import {resolveConnection} from '../src/config/connectionConfig.js'
import {EtcdStore} from '../src/etcd/etcdStore.js'
import {startEtcd} from '../src/localEtcd/etcdProcess.js'
import {freePort} from '../src/localEtcd/freePort.js'
import {setClusterSecurity} from '../src/security/clusterSecurity.js'
import {createCa, issueCertificate, type PemPair} from '../src/transport/certificateAuthority.js'
import {dataPlaneUrl, sharedDispatcher, tlsConnectOptions} from '../src/transport/clientTls.js'
import {loadTlsMaterial, type TlsMaterial} from '../src/transport/tlsMaterial.js'
import {BenchLeftovers} from './benchLeftovers.js'
import {type LoadPhase, MAX_OPS, runPhase} from './loadPhase.js'

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 2000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32)
const LATENCY_OPS = Number(process.env.BENCH_LATENCY_OPS ?? 1000)
const VALUE = Buffer.alloc(Number(process.env.BENCH_VALUE ?? 100), 'v')
const KEYS = Number(process.env.BENCH_KEYS ?? 2000)
const root = resolve(import.meta.dirname, '../..')
const leftovers = new BenchLeftovers()
const children = leftovers.children

type Mode = 'plaintext' | 'tls'
type Phase = LoadPhase


function spawnCli(args: string[], env: Record<string, string>): {stdout: () => string} {
  const child = spawn(process.execPath, [join(root, 'bin/run.js'), ...args], {cwd: root, env: {PATH: process.env.PATH, HOME: process.env.HOME, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  children.push(child)
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.resume()
  return {stdout: () => out}
}

async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** startCluster brings up one rf-1 cluster (node + router) and returns a keep-alive pool to its router. */
async function startCluster(endpoint: string, mode: Mode, pki: {dir: string; ca: PemPair}, dirs: string[]): Promise<Pool> {
  const cluster = `bench-${mode}`
  const store = new EtcdStore(resolveConnection({flags: {endpoints: endpoint, cluster}, env: {}}))
  const ctx = makeServiceContext(store, {cluster})
  const port = await freePort()
  await initCluster(ctx, {shards: 8, rf: 1, nodes: parseNodeSpecs(`n1=127.0.0.1:${port}`), force: false})
  let env: Record<string, string> = {}
  let tls: TlsMaterial | undefined
  let clientTls: TlsMaterial | undefined
  if (mode === 'tls') {
    await setClusterSecurity(ctx, {tlsOnly: true})
    const validity = {notBefore: new Date(Date.now() - 60_000), days: 1}
    const write = (name: string, pair: PemPair) => {
      writeFileSync(join(pki.dir, `${name}.crt`), pair.certPem)
      writeFileSync(join(pki.dir, `${name}.key`), pair.keyPem, {mode: 0o600})
      return {cert: join(pki.dir, `${name}.crt`), key: join(pki.dir, `${name}.key`), ca: join(pki.dir, 'ca.crt')}
    }
    const node = write('node', await issueCertificate(pki.ca, {kind: 'node', commonName: 'n1', hosts: ['127.0.0.1'], validity}))
    env = {SHARDCTL_TLS_CERT: node.cert, SHARDCTL_TLS_KEY: node.key, SHARDCTL_TLS_CA: node.ca}
    tls = loadTlsMaterial(node, 'certificate')
    clientTls = loadTlsMaterial({ca: node.ca}, 'ca-only')
  }
  store.close()
  const dir = mkdtempSync(join(tmpdir(), `shardctl-bench-tls-${mode}-`))
  dirs.push(dir)
  spawnCli(['node', 'serve', '--endpoints', endpoint, '--cluster', cluster, '--id', 'n1', '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--fsync', 'normal'], env)
  await waitUntil(`${mode} node`, async () => {
    const res = await request(dataPlaneUrl(`127.0.0.1:${port}`, tls, '/healthz'), {dispatcher: sharedDispatcher(tls)})
    return ((await res.body.json()) as {serving: boolean}).serving
  })
  const router = spawnCli(['router', 'serve', '--endpoints', endpoint, '--cluster', cluster, '--id', `r-${mode}`, '--listen', '127.0.0.1:0'], env)
  let address = ''
  await waitUntil(`${mode} router`, async () => {
    const m = / on (127\.0\.0\.1:\d+)/.exec(router.stdout())
    if (!m) return false
    address = m[1]!
    const res = await request(dataPlaneUrl(address, clientTls, '/healthz'), {dispatcher: sharedDispatcher(clientTls)})
    await res.body.dump()
    return res.statusCode === 200
  })
  return new Pool(dataPlaneUrl(address, clientTls), {connections: CONCURRENCY, pipelining: 1, keepAliveTimeout: 30_000, connect: tlsConnectOptions(clientTls)})
}

function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-'
}

async function main(): Promise<void> {
  const dirs = leftovers.dirs
  const etcdDir = mkdtempSync(join(tmpdir(), 'shardctl-bench-etcd-'))
  const pkiDir = mkdtempSync(join(tmpdir(), 'shardctl-bench-pki-'))
  dirs.push(etcdDir, pkiDir)
  const etcd = await startEtcd({dataDir: etcdDir, name: 'bench'})
  try {
    const ca = await createCa('bench-ca', {notBefore: new Date(Date.now() - 60_000), days: 1})
    writeFileSync(join(pkiDir, 'ca.crt'), ca.certPem)
    const pools: Record<Mode, Pool> = {plaintext: await startCluster(etcd.endpoint, 'plaintext', {dir: pkiDir, ca}, dirs), tls: await startCluster(etcd.endpoint, 'tls', {dir: pkiDir, ca}, dirs)}
    const keys = Array.from({length: KEYS}, (_, i) => `bench-key-${i}`)
    const call = (mode: Mode, method: 'PUT' | 'GET') => async (i: number) => {
      const res = await pools[mode].request({method, path: `/kv/${keys[i % KEYS]}`, body: method === 'PUT' ? VALUE : undefined})
      await res.body.dump()
      if (res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}`)
    }
    for (const mode of ['plaintext', 'tls'] as const) {
      await runPhase(call(mode, 'PUT'), CONCURRENCY, 60_000, KEYS)
      await runPhase(call(mode, 'GET'), CONCURRENCY, 500, MAX_OPS)
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    const results: Record<string, {thr: Phase[]; lat: Phase[]}> = {}
    for (let round = 0; round < ROUNDS; round++) {
      const order: Mode[] = round % 2 === 0 ? ['plaintext', 'tls'] : ['tls', 'plaintext']
      for (const op of ['PUT', 'GET'] as const) {
        for (const mode of order) {
          const r = (results[`${mode} ${op}`] ??= {thr: [], lat: []})
          r.lat.push(await runPhase(call(mode, op), 1, DURATION_MS, LATENCY_OPS))
          r.thr.push(await runPhase(call(mode, op), CONCURRENCY, DURATION_MS, MAX_OPS))
        }
      }
    }
    console.log(`router TLS bench: rf 1, ${VALUE.length}-byte values over ${KEYS} keys; medians of ${ROUNDS} interleaved rounds; throughput ${CONCURRENCY} in flight for ${DURATION_MS} ms, latency 1 in flight; keep-alive; loopback; load average at start ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs\n`)
    console.log(`op   mode       ops/s(c=${CONCURRENCY})  p50 ms(c=1)  errors`)
    const figure = (mode: Mode, op: string) => {
      const r = results[`${mode} ${op}`]!
      return {opsPerSec: median(r.thr.map((x) => x.opsPerSec)), p50: median(r.lat.map((x) => x.p50)), errors: [...r.thr, ...r.lat].reduce((a, x) => a + x.errors, 0)}
    }
    for (const op of ['PUT', 'GET']) {
      for (const mode of ['plaintext', 'tls'] as const) {
        const f = figure(mode, op)
        console.log(`${op.padEnd(4)} ${mode.padEnd(10)} ${fmt(f.opsPerSec, 0).padStart(14)}  ${fmt(f.p50, 3).padStart(11)}  ${f.errors}`)
      }
    }
    console.log('\nratios (TLS vs plaintext, same op):')
    for (const op of ['PUT', 'GET']) {
      const p = figure('plaintext', op)
      const t = figure('tls', op)
      console.log(`${op}: throughput ${fmt((t.opsPerSec / p.opsPerSec) * 100, 1)} % of plaintext; p50 +${fmt(t.p50 - p.p50, 3)} ms (c=1)`)
    }
    await Promise.all(Object.values(pools).map((p) => p.destroy()))
  } finally {
    await leftovers.release(etcd)
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
