import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {connect} from 'node:tls'
import {setTimeout as sleepFor} from 'node:timers/promises'
import {Agent, request} from 'undici'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {initCluster} from '../../../src/cluster/initCluster.js'
import {setNodeState} from '../../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../../src/cluster/snapshotService.js'
import {executePlan} from '../../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../../src/executor/executorEnv.js'
import {loadClusterToken} from '../../../src/node/clusterToken.js'
import {NodeClient} from '../../../src/node/nodeClient.js'
import {planRebalance} from '../../../src/planner/planRebalance.js'
import {setClusterSecurity} from '../../../src/security/clusterSecurity.js'
import {addToken, addUser, listUsers, putRole, revokeToken} from '../../../src/security/userService.js'
import {setDefaultClientTls, tlsConnectOptions} from '../../../src/transport/clientTls.js'
import {loadTlsMaterial, type TlsMaterial} from '../../../src/transport/tlsMaterial.js'
import {DataPlanePki, type PkiFiles, tlsEnvOf} from '../../support/dataPlanePki.js'
import {ExecutorsOfTest} from '../../support/executorAbort.js'
import {runCli} from '../../support/runCli.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'
import {type NodeProcess, startNodeProcess} from '../node/nodeProcess.js'
import {type RouterProcess, startRouterProcess} from '../router/routerProcess.js'

/*
 * Rotation without downtime on real processes: etcd, three `node serve` children (mutual
 * TLS), one `router serve` child (HTTPS, authentication on), all started from files signed
 * by CA1. A bounded client loop writes and reads through the router the whole time, on
 * fresh connections every few requests, while the operator's steps run:
 *
 *   1. the shared trust bundle becomes CA1+CA2;
 *   2. every node's and the router's certificate and key are replaced by ones from CA2
 *      (key first, then certificate: a half-written pair must not be loaded);
 *   3. the bundle becomes CA2 only;
 *   4. the client's token is rotated (a second token added, used, the first revoked).
 *
 * Each step waits (bounded) until every process shows it took the step, probed through
 * real handshakes. Then: every request succeeded (retrying, bounded, only what load alone
 * causes: a timeout, a 503 from a slow replica), none refused for the rotation, writes in
 * every step, every acknowledged write readable, a drain of n3 over the rotated certificates (node-to-node copies), and
 * CA1-signed client certificates and the old token refused. No key or token in any log.
 */
const stores = new StoreSet()
// The drain's executor is aborted if its test times out, so it never outlives the file.
const executors = new ExecutorsOfTest()
const NODE_IDS = ['n1', 'n2', 'n3'] as const
const STEPS = ['CA1 only', 'trust CA1+CA2', 'certificates from CA2', 'trust CA2 only', 'token rotated'] as const
type Step = (typeof STEPS)[number]
const procs: (NodeProcess | RouterProcess)[] = []
const ports: Record<string, number> = {}
let dir: string
let certDir: string
let trustFile: string
let ctx: ServiceContext
let cluster: string
let ca1: DataPlanePki
let ca2: DataPlanePki
let router: RouterProcess
/** Per process id: the paths its flags name (rewritten in place by the rotation). */
const live: Record<string, PkiFiles> = {}
const keyFiles: string[] = []
/** Every user token handed out (secrets the audit looks for). */
const userTokens: string[] = []

/** Client-side material the test holds: certificates of each CA, trusting both (a client updated first). */
let exec1: TlsMaterial
let exec2: TlsMaterial
let exec2Files: PkiFiles
let carol1: TlsMaterial
let carol2: TlsMaterial
let bothCas: Buffer

/** clientOf issues a client certificate from `pki` and loads it trusting both CAs. */
async function clientOf(pki: DataPlanePki, name: string): Promise<TlsMaterial> {
  const files = await pki.issue(name, 'client')
  keyFiles.push(files.key)
  return {...loadTlsMaterial(files, 'certificate')!, ca: bothCas}
}

beforeAll(async () => {
  const endpoint = inject('etcdEndpoint')
  cluster = uniqueCluster('tlsrot')
  ctx = makeServiceContext(stores.open(endpoint, cluster), {cluster})
  dir = mkdtempSync(join(tmpdir(), 'shardctl-tlsrot-'))
  certDir = join(dir, 'certs')
  mkdirSync(certDir, {mode: 0o700})
  ca1 = await DataPlanePki.create('rotation-ca-1')
  ca2 = await DataPlanePki.create('rotation-ca-2')
  bothCas = Buffer.from(`${ca1.ca.certPem}${ca2.ca.certPem}`)
  exec1 = await clientOf(ca1, 'executor')
  exec2 = await clientOf(ca2, 'executor')
  exec2Files = {cert: keyFiles.at(-1)!.replace(/\.key$/, '.crt'), key: keyFiles.at(-1)!, ca: ca2.caFile}
  carol1 = await clientOf(ca1, 'carol')
  carol2 = await clientOf(ca2, 'carol')
  trustFile = join(certDir, 'trust.crt')
  writeFileSync(trustFile, ca1.ca.certPem)
  for (const id of [...NODE_IDS, 'r1']) {
    const issued = await ca1.issue(`${id}-gen1`, 'node')
    keyFiles.push(issued.key)
    live[id] = {cert: join(certDir, `${id}.crt`), key: join(certDir, `${id}.key`), ca: trustFile}
    copyFileSync(issued.key, live[id].key)
    copyFileSync(issued.cert, live[id].cert)
  }
  await initCluster(ctx, {shards: 4, rf: 2, nodes: parseNodeSpecs(NODE_IDS.map((id, i) => `${id}=127.0.0.1:${i + 1}`).join(',')), force: false})
  await setClusterSecurity(ctx, {tlsOnly: true})
  for (const id of NODE_IDS) {
    // Port 0 (the records name placeholder ports until each node registers the one it bound).
    const p = await startNodeProcess({endpoint, cluster, id, port: 0, dataDir: join(dir, id), env: tlsEnvOf(live[id]!), tls: exec1}, 60_000)
    ports[id] = Number(p.address.slice(p.address.lastIndexOf(':') + 1))
    procs.push(p)
  }
  router = await startRouterProcess({endpoint, cluster, id: 'r1', env: tlsEnvOf(live.r1!), tls: {...exec1, cert: undefined, key: undefined}}, 60_000)
  procs.push(router)
}, 240_000)

afterAll(async () => {
  setDefaultClientTls(undefined)
  await Promise.all(procs.map((p) => p.kill()))
  stores.closeAll()
  rmSync(dir, {recursive: true, force: true})
  ca1?.remove()
  ca2?.remove()
})

/** Probe is what one handshake plus `GET /healthz` on a fresh connection saw. */
interface Probe {
  /** issuer is the CN of the CA that signed the certificate the server presented. */
  issuer?: string
  /** accepted: the server answered (it took our client certificate, if it needs one). */
  accepted: boolean
}

/** probe dials `address` on a fresh TLS connection with `tls` and asks for /healthz; bounded by 5 s. */
function probe(address: string, tls: TlsMaterial): Promise<Probe> {
  const [host, port] = address.split(':')
  return new Promise((resolve) => {
    let issuer: string | undefined
    let answer = ''
    const done = (accepted: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({issuer, accepted})
    }
    const socket = connect({host, port: Number(port), ...tlsConnectOptions(tls)}, () => {
      const cn = socket.getPeerCertificate().issuer?.CN
      issuer = Array.isArray(cn) ? cn[0] : cn
      socket.write(`GET /healthz HTTP/1.1\r\nhost: ${address}\r\nconnection: close\r\n\r\n`)
    })
    const timer = setTimeout(() => done(false), 5000)
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1')
      if (answer.includes('\r\n\r\n')) done(/^HTTP\/1\.1 [25]\d\d/.test(answer))
    })
    socket.on('error', () => done(false))
    socket.on('close', () => done(false))
  })
}

/** routerStatus is the status of `GET /kv/app/probe` on a fresh connection, as certificate user carol with `tls`. */
async function routerStatus(tls: TlsMaterial, token?: string): Promise<number> {
  const agent = new Agent({connect: {...tlsConnectOptions(tls), timeout: 5000}})
  try {
    const res = await request(`https://${router.address}/kv/app/probe`, {dispatcher: agent, headers: token ? {authorization: `Bearer ${token}`} : {}, headersTimeout: 5000, bodyTimeout: 5000})
    await res.body.dump()
    return res.statusCode
  } catch {
    return 0
  } finally {
    await agent.close()
  }
}

const nodeAddresses = (): string[] => NODE_IDS.map((id) => `127.0.0.1:${ports[id]}`)

/** Outcome is one attempt of a client request: done, or failed and whether the failure is the load's (retried) or a broken guarantee. */
type Outcome = {kind: 'ok'} | {kind: 'retriable' | 'failed'; why: string}

/**
 * LOAD_ERRORS are the client-side errors a loaded machine causes on its own (a slow answer, a slow
 * connect): the request is retried. Anything else a request throws (a refused handshake, a
 * certificate not trusted, a reset) is what a broken rotation looks like, and fails the test.
 */
const LOAD_ERRORS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])

/**
 * routerRefusal judges a non-2xx answer from the router: a 503 the router gives when a replica
 * was slow or busy (QUORUM_FAILED, NOT_SERVING, NODE_UNREACHABLE) is retriable, unless what it
 * names is a TLS failure between router and node (the rotation broke a link); every other status
 * (401, 403, 500, ...) fails.
 */
function routerRefusal(status: number, body: string): Outcome {
  let code: string | undefined
  try {
    code = (JSON.parse(body) as {code?: string}).code
  } catch {
    code = undefined
  }
  const retriable = status === 503 && ['QUORUM_FAILED', 'NOT_SERVING', 'NODE_UNREACHABLE'].includes(code ?? '') && !/certificate|handshake|tls|ssl|alert/i.test(body)
  return {kind: retriable ? 'retriable' : 'failed', why: `${status} ${body.slice(0, 200)}`}
}

/** RETRIES bounds the attempts of one client request (each bounded by its 10 s timeouts). */
const RETRIES = 5

/**
 * Workload is a bounded client loop through the router: writes and reads of its own keys, on a
 * fresh connection every 8 requests. It asserts what the product guarantees a client: every
 * request succeeds, after retries of what the load alone causes (a timeout, a 503 from a slow
 * replica: bounded, and counted in `retried`); no request is refused because of the rotation (a
 * handshake, a certificate, a 401); and a read returns the last acknowledged write of its key, or
 * a write sent after it whose answer was lost (a PUT that timed out may have been applied: the
 * router stamped it later than the acknowledged one, so it may win).
 */
class Workload {
  step: Step = 'CA1 only'
  token = ''
  readonly okPerStep = new Map<Step, number>()
  readonly failures: string[] = []
  /** retried lists every attempt that failed for the load alone and was retried. */
  readonly retried: string[] = []
  readonly acked = new Map<string, string>()
  /** unsure holds, per key, the values written after its last acknowledged write whose PUT got no answer (applied or not). */
  readonly unsure = new Map<string, Set<string>>()
  private stopped = false
  private done?: Promise<void>

  /** readable tells whether `value` (undefined: absent) is a value a read of `key` may return now. */
  readable(key: string, value: string | undefined): boolean {
    const want = this.acked.get(key)
    if (value === want) return true
    return value !== undefined && (this.unsure.get(key)?.has(value) ?? false)
  }

  start(maxOps: number, maxMs: number): void {
    const deadline = Date.now() + maxMs
    this.done = (async () => {
      let agent: Agent | undefined
      for (let i = 0; i < maxOps && !this.stopped && Date.now() < deadline; i++) {
        if (i % 8 === 0) {
          void agent?.close()
          agent = new Agent({connect: {ca: bothCas, timeout: 5000}, keepAliveTimeout: 10_000})
        }
        const key = `app/load-${i % 40}`
        const step = this.step
        const write = i % 3 !== 2
        const value = `v${i}-${step}`
        let outcome: Outcome = {kind: 'failed', why: 'not tried'}
        for (let attempt = 1; attempt <= RETRIES; attempt++) {
          outcome = await (write ? this.put(agent!, key, value) : this.get(agent!, key))
          if (outcome.kind !== 'retriable') break
          this.retried.push(`[${step}] ${write ? 'PUT' : 'GET'} ${key} attempt ${attempt}: ${outcome.why}`)
          // A write without an answer may have been applied.
          if (write) this.unsure.set(key, (this.unsure.get(key) ?? new Set()).add(value))
        }
        if (outcome.kind === 'ok') {
          this.okPerStep.set(step, (this.okPerStep.get(step) ?? 0) + 1)
          if (write) {
            this.acked.set(key, value)
            this.unsure.delete(key)
          }
        } else this.failures.push(`[${step}] ${write ? 'PUT' : 'GET'} ${key}: ${outcome.why}${outcome.kind === 'retriable' ? ` (still failing after ${RETRIES} attempts)` : ''}`)
      }
      await agent?.close()
    })()
  }

  private async put(agent: Agent, key: string, value: string): Promise<Outcome> {
    return this.attempt(async () => {
      const res = await request(`https://${router.address}/kv/${key}`, {method: 'PUT', body: value, dispatcher: agent, headers: {authorization: `Bearer ${this.token}`}, headersTimeout: 10_000, bodyTimeout: 10_000})
      const body = await res.body.text()
      return res.statusCode === 204 ? {kind: 'ok'} : routerRefusal(res.statusCode, body)
    })
  }

  private async get(agent: Agent, key: string): Promise<Outcome> {
    return this.attempt(async () => {
      const res = await request(`https://${router.address}/kv/${key}`, {dispatcher: agent, headers: {authorization: `Bearer ${this.token}`}, headersTimeout: 10_000, bodyTimeout: 10_000})
      const body = await res.body.text()
      if (res.statusCode !== 200 && res.statusCode !== 404) return routerRefusal(res.statusCode, body)
      // A wrong value is never the load's: a lost or stale write.
      if (!this.readable(key, res.statusCode === 200 ? body : undefined)) return {kind: 'failed', why: `GET ${key}: ${res.statusCode} ${body.slice(0, 200)} (want ${this.acked.get(key) ?? '404'}${this.unsure.has(key) ? ` or one of ${[...this.unsure.get(key)!].join(', ')}` : ''})`}
      return {kind: 'ok'}
    })
  }

  /** attempt runs one request, judging what it throws: a timeout of the load's is retriable, anything else fails. */
  private async attempt(run: () => Promise<Outcome>): Promise<Outcome> {
    try {
      return await run()
    } catch (err) {
      const code = (err as {code?: string}).code ?? ''
      return {kind: LOAD_ERRORS.has(code) ? 'retriable' : 'failed', why: `${code} ${err instanceof Error ? err.message : String(err)}`}
    }
  }

  /** holdUntil waits (bounded) until at least `n` requests succeeded in the current step, so every step runs under load. */
  async holdUntil(n: number): Promise<void> {
    await expect.poll(() => this.okPerStep.get(this.step) ?? 0, {timeout: 30_000, interval: 50}).toBeGreaterThanOrEqual(n)
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.done
  }
}

/** waitAll polls (bounded) until `check` holds for every address. */
async function waitAll(what: string, addresses: readonly string[], check: (address: string) => Promise<boolean>): Promise<void> {
  for (const a of addresses) await expect.poll(() => check(a), {timeout: 30_000, interval: 200, message: `${what} at ${a}`}).toBe(true)
}

describe('certificate, CA and token rotation under a live workload', () => {
  it('adds CA2, reissues every certificate from it, drops CA1 and rotates a token with every request served (retrying only what load alone causes) and no acknowledged write lost', async () => {
    await putRole(ctx, 'app-writer', 'write', ['app/'])
    const first = await addUser(ctx, 'app', ['app-writer'], {token: true, certificate: false})
    await addUser(ctx, 'carol', ['app-writer'], {token: false, certificate: true})
    await setClusterSecurity(ctx, {authRequired: true})
    // Routers re-read the settings about every second: wait (bounded) until this one enforces them.
    await expect.poll(() => routerStatus(exec1), {timeout: 15_000, interval: 200}).toBe(401)
    expect(await routerStatus(carol1)).toBe(404)
    // Before the rotation, CA2 means nothing to anyone.
    for (const a of nodeAddresses()) expect((await probe(a, exec2)).accepted, a).toBe(false)
    expect(await routerStatus(carol2)).toBe(401)

    const load = new Workload()
    load.token = first.token!
    userTokens.push(first.token!)
    load.start(20_000, 240_000)
    try {
      await load.holdUntil(20)

      load.step = 'trust CA1+CA2'
      writeFileSync(trustFile, bothCas)
      await waitAll('a node takes CA2 client certificates', nodeAddresses(), async (a) => (await probe(a, exec2)).accepted)
      await expect.poll(() => routerStatus(carol2), {timeout: 30_000, interval: 200}).toBe(404)
      await load.holdUntil(20)

      load.step = 'certificates from CA2'
      for (const id of [...NODE_IDS, 'r1']) {
        const issued = await ca2.issue(`${id}-gen2`, 'node')
        keyFiles.push(issued.key)
        // Key first, certificate a moment later: in between the pair does not match and must not be loaded.
        writeFileSync(live[id]!.key, readFileSync(issued.key))
        await sleepFor(300)
        writeFileSync(live[id]!.cert, readFileSync(issued.cert))
      }
      await waitAll('a process presents a CA2 certificate', [...nodeAddresses(), router.address], async (a) => (await probe(a, exec2)).issuer === 'rotation-ca-2')
      await load.holdUntil(20)

      load.step = 'trust CA2 only'
      writeFileSync(trustFile, ca2.ca.certPem)
      await waitAll('a node refuses CA1 client certificates', nodeAddresses(), async (a) => !(await probe(a, exec1)).accepted)
      await expect.poll(() => routerStatus(carol1), {timeout: 30_000, interval: 200}).toBe(401)
      await load.holdUntil(20)

      const second = await addToken(ctx, 'app')
      // Routers learn users within about a second: switch clients only once the new token is accepted.
      await expect.poll(() => routerStatus(exec2, second.token), {timeout: 15_000, interval: 200}).toBe(404)
      load.token = second.token
      userTokens.push(second.token)
      load.step = 'token rotated'
      const oldId = (await listUsers(ctx)).find((u) => u.name === 'app')!.tokens[0]!.id
      await revokeToken(ctx, 'app', oldId)
      await expect.poll(() => routerStatus(exec2, first.token), {timeout: 15_000, interval: 200}).toBe(401)
      await load.holdUntil(20)
    } finally {
      await load.stop()
    }

    // Every request succeeded (a few after retries the load alone called for), none was refused for the rotation.
    expect(load.failures, `retried: ${load.retried.join('; ')}`).toEqual([])
    for (const step of STEPS) expect(load.okPerStep.get(step) ?? 0, step).toBeGreaterThanOrEqual(20)
    // Every acknowledged write is there (or a later write whose answer was lost), read with the new token over CA2-only trust.
    const readBack = async () => {
      for (const key of load.acked.keys()) {
        const res = await request(`https://${router.address}/kv/${key}`, {dispatcher: new Agent({connect: {ca: Buffer.from(ca2.ca.certPem)}}), headers: {authorization: `Bearer ${load.token}`}})
        const body = await res.body.text()
        expect(load.readable(key, res.statusCode === 200 ? body : undefined), `${key}: ${res.statusCode} ${body.slice(0, 200)}`).toBe(true)
      }
    }
    await readBack()

    // Node-to-node copies, the executor and the router all on CA2 only: drain n3.
    setDefaultClientTls({...exec2, ca: Buffer.from(ca2.ca.certPem)})
    await setNodeState(ctx, 'n3', 'draining')
    const plan = planRebalance(await readSnapshot(ctx), {drainOnly: true}, {id: 'rotated-drain', createdAt: new Date().toISOString()})
    expect(plan.actions.length).toBeGreaterThan(0)
    const result = await executors.start((stop) =>
      executePlan(
        ctx,
        {plan, limits: {maxConcurrent: 2, perNode: 1}, throttle: null, nodeThrottle: null, options: {...DEFAULT_EXECUTOR_OPTIONS, drainTimeoutMs: 2000, barrierTimeoutMs: 15_000}, confirm: async () => true, holder: 'tls-rotation-test'},
        {now: () => Date.now(), sleep: (ms, s) => sleepFor(ms, undefined, {signal: s}).catch(() => {}), emit: () => {}},
        stop,
      ),
    )
    expect(result.moves.every((m) => m.phase === 'done'), JSON.stringify(result.moves.map((m) => [m.id, m.phase]))).toBe(true)
    expect((await listShards(ctx)).shards.some((s) => s.value.replicas.some((r) => r.node === 'n3'))).toBe(false)
    await readBack()
  }, 420_000)

  it('afterwards refuses a CA1-signed client certificate and the revoked token, and no key or token is in any log, CLI output or plan file', async () => {
    const token = await loadClusterToken(ctx, {create: false})
    const old = new NodeClient({node: 'n1', address: `127.0.0.1:${ports.n1}`, token, timeoutMs: 5000, tls: exec1})
    await expect(old.health()).rejects.toMatchObject({code: 'NODE_UNREACHABLE'})
    await old.destroy()
    const current = new NodeClient({node: 'n1', address: `127.0.0.1:${ports.n1}`, token, timeoutMs: 5000, tls: exec2})
    expect((await current.health()).serving).toBe(true)
    await current.destroy()
    expect(await routerStatus(carol1)).toBe(401)
    expect(await routerStatus(carol2)).not.toBe(401)

    // The CLI in the same TLS+auth world: a read with the current token, one with the revoked
    // token (401), repair over mutual TLS and a plan file; their outputs join the audit below.
    writeFileSync(join(dir, 'current.token'), userTokens[1]!, {mode: 0o600})
    writeFileSync(join(dir, 'revoked.token'), userTokens[0]!, {mode: 0o600})
    const etcdArgs = ['--endpoints', inject('etcdEndpoint'), '--cluster', cluster]
    const execEnv = {SHARDCTL_TLS_CERT: exec2Files.cert, SHARDCTL_TLS_KEY: exec2Files.key, SHARDCTL_TLS_CA: ca2.caFile}
    const [read, refused, repaired, planned] = await Promise.all([
      runCli(['kv', 'get', 'app/load-1', '--router', router.address, '--tls-ca', ca2.caFile, '--auth-token-file', 'current.token', '--json'], {cwd: dir, timeoutMs: 120_000}),
      runCli(['kv', 'get', 'app/load-1', '--router', router.address, '--tls-ca', ca2.caFile, '--auth-token-file', 'revoked.token'], {cwd: dir, timeoutMs: 120_000}),
      runCli(['repair', '--json', ...etcdArgs], {cwd: dir, env: execEnv, timeoutMs: 120_000}),
      runCli(['plan', '--out', 'p.json', '--json', ...etcdArgs], {cwd: dir, timeoutMs: 120_000}),
    ])
    expect(read.code, read.stderr).toBe(0)
    expect(refused.code, refused.stderr).not.toBe(0)
    expect(refused.stderr).toMatch(/UNAUTHORIZED|authentication required/)
    expect(repaired.code, repaired.stderr).toBe(0)
    expect(planned.code, planned.stderr).toBe(0)
    const cliOutputs = [read, refused, repaired, planned].flatMap((r) => [r.stdout, r.stderr])
    cliOutputs.push(readFileSync(join(dir, 'p.json'), 'utf8'))

    // The processes said what they loaded, and that the half-written pair was skipped.
    for (const p of procs) expect(p.logs() + p.stdout()).toMatch(/reloaded TLS files/)
    expect(procs.some((p) => /does not belong to the certificate/.test(p.logs() + p.stdout()))).toBe(true)
    // Secrets audit: no private key body (any generation, either CA) and no token in any output.
    const secrets = [
      ...[ca1.ca.keyPem, ca2.ca.keyPem, ...keyFiles.map((f) => readFileSync(f, 'utf8'))].flatMap((pem) => pem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))),
      token,
      ...userTokens.map((t) => t.slice(t.indexOf('.') + 1)),
    ]
    expect(userTokens).toHaveLength(2)
    expect(secrets.length).toBeGreaterThan(20)
    for (const p of procs) {
      const text = p.logs() + p.stdout()
      for (const s of secrets) expect(text.includes(s), `process ${p.pid} output holds a secret`).toBe(false)
    }
    for (const [i, text] of cliOutputs.entries()) for (const s of secrets) expect(text.includes(s), `CLI output ${i} holds a secret`).toBe(false)
  }, 300_000)
})
