import {request} from 'undici'
import {readyAddress as daemonReadyAddress} from '../../../src/daemon/readyLine.js'
import {dataPlaneUrl, sharedDispatcher} from '../../../src/transport/clientTls.js'
import {type TlsMaterial} from '../../../src/transport/tlsMaterial.js'
import {assertDistFresh, type CliChild, spawnCli} from '../../support/cliChild.js'

/** Sources the spawned `node serve` runs from dist/; each must be built from the current source. */
const BUILT = ['commands/node/serve', 'src/daemon/readyLine', 'src/node/storageNode', 'src/node/identityGuard', 'src/node/identityClaim', 'src/node/nodeHttpApi', 'src/node/nodeMetrics', 'src/node/storageEngine', 'src/node/shardMapFollower', 'src/node/orphanSweeper', 'src/node/moveCopyHolds', 'src/node/diskReserve', 'src/node/storageWriter', 'src/node/dataDirLock']

/** assertNodeDistFresh fails clearly when dist/ is older than the node sources (`npm test` builds first). */
export function assertNodeDistFresh(): void {
  assertDistFresh(BUILT)
}

/** NodeProcessOptions are the flags of one `shardctl node serve` child. */
export interface NodeProcessOptions {
  endpoint: string
  cluster: string
  id: string
  /**
   * port to listen on; 0: any free port, read from the node's ready line (no other process can
   * take it between choosing and binding, as one could take a port freePort chose). A fixed port
   * (a restart on the node's own port) is tried again while the child exits on EADDRINUSE.
   */
  port: number
  dataDir: string
  extra?: string[]
  /** host to listen on (default 127.0.0.1). */
  host?: string
  /** env is added to the child's environment. */
  env?: Record<string, string>
  /** tls: the node serves mutual TLS (its flags are in `extra` or `env`); readiness is probed with this client material. */
  tls?: TlsMaterial
  /**
   * statsInterval is the node's --stats-interval (default 300ms: tests wait little for stats);
   * null passes no flag, so the node runs on its own default (a test of a refused start passes only the flags it is about).
   */
  statsInterval?: string | null
  /** leaseTtl is the node's --lease-ttl (default 3s: a lost lease is noticed quickly); null passes no flag, as for statsInterval. */
  leaseTtl?: string | null
}

/** tuningFlag is `[flag, value]` (`value` undefined: `[flag, testDefault]`), or no flag at all when `value` is null. */
function tuningFlag(flag: string, value: string | null | undefined, testDefault: string): string[] {
  return value === null ? [] : [flag, value ?? testDefault]
}

/** NodeProcess is a running `shardctl node serve` child. */
export type NodeProcess = CliChild

/**
 * spawnNodeProcess spawns `node bin/run.js node serve ...` with `opts` and returns at once
 * (a test of a refused start waits for its exit; {@link startNodeProcess} waits for it to serve).
 */
export function spawnNodeProcess(opts: NodeProcessOptions): NodeProcess {
  assertNodeDistFresh()
  const args = [
    'node', 'serve',
    '--endpoints', opts.endpoint, '--cluster', opts.cluster,
    '--id', opts.id, '--listen', `${opts.host ?? '127.0.0.1'}:${opts.port}`, '--data-dir', opts.dataDir,
    ...tuningFlag('--stats-interval', opts.statsInterval, '300ms'), ...tuningFlag('--lease-ttl', opts.leaseTtl, '3s'),
    ...(opts.extra ?? []),
  ]
  // With port 0 the address is known once the node prints its ready line (readyAddress).
  return {...spawnCli(args, opts.env), address: opts.port === 0 ? '' : `${opts.host ?? '127.0.0.1'}:${opts.port}`}
}

/**
 * readyAddress is the address node `id` printed on its ready line (text, or the --json event),
 * or undefined before it printed one.
 */
export function readyAddress(stdout: string, id: string): string | undefined {
  return daemonReadyAddress(stdout, 'node', id)
}

/** BIND_RETRIES bounds the respawns of a node whose fixed port was taken (by a client's ephemeral port, or a process that is going away). */
const BIND_RETRIES = 5

/** lostBind tells whether a child that exited failed to bind its fixed port (node serve's one-line BAD_INPUT, exit 2). */
function lostBind(logs: string): boolean {
  return /cannot listen on \S+: EADDRINUSE/.test(logs)
}

/**
 * startNodeProcess spawns `node bin/run.js node serve ...` and resolves once the child printed
 * its ready line and /healthz says it serves (bounded: rejects after `readyTimeoutMs`, killing
 * the child, with its stderr). With port 0 the process's `address` is the one it printed.
 */
export async function startNodeProcess(opts: NodeProcessOptions, readyTimeoutMs = 45_000): Promise<NodeProcess> {
  const deadline = Date.now() + readyTimeoutMs
  for (let attempt = 0; ; attempt++) {
    const proc = await untilServing(spawnNodeProcess(opts), opts, deadline, readyTimeoutMs)
    if (typeof proc !== 'string') return proc
    if (opts.port === 0 || attempt >= BIND_RETRIES || Date.now() > deadline - 1000) throw new Error(proc)
    // Another process holds the port for now: a restart on the node's own port waits for it.
    await new Promise((r) => setTimeout(r, 300 * (attempt + 1)))
  }
}

/**
 * untilServing waits until `proc` serves as node `opts.id` and returns it, or returns why it
 * exited when it lost its fixed port's bind (to spawn again); throws for any other exit, or
 * at `deadline` (killing it).
 */
async function untilServing(proc: NodeProcess, opts: NodeProcessOptions, deadline: number, readyTimeoutMs: number): Promise<NodeProcess | string> {
  while (Date.now() < deadline) {
    if (proc.gone()) {
      const why = `node ${opts.id} exited before serving (${await proc.exited}): ${proc.logs().slice(-2000)}`
      if (opts.port !== 0 && lostBind(proc.logs())) return why
      throw new Error(why)
    }
    // The child's own ready line, not whatever answers on its port: a port freePort chose may
    // have been taken by another test's process before the child bound it.
    const ready = readyAddress(proc.stdout(), opts.id)
    if (!ready) {
      await new Promise((r) => setTimeout(r, 100))
      continue
    }
    if (!proc.address) proc.address = ready
    try {
      // A TLS handshake on a loaded machine can take more than a second.
      const res = await request(dataPlaneUrl(proc.address!, opts.tls, '/healthz'), {dispatcher: sharedDispatcher(opts.tls), signal: AbortSignal.timeout(opts.tls ? 5000 : 1000)})
      // Only the node itself counts, not a squatter: freePort's port is released before the node binds it, and a CI run
      // saw another test's server on n2's port taken for n2 (which had exited on the taken port): "no route POST
      // /v1/shards/0/apply". Now the child's exit is seen above, with its log.
      if (res.statusCode === 200) {
        const health = (await res.body.json()) as {serving?: boolean; node?: string}
        if (health.serving && health.node === opts.id) return proc
      } else await res.body.dump()
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  await proc.kill()
  throw new Error(`node ${opts.id} did not serve within ${readyTimeoutMs} ms: ${proc.logs().slice(-2000)}`)
}
