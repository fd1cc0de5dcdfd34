import {request} from 'undici'
import {readyAddress} from '../../../src/daemon/readyLine.js'
import {dataPlaneUrl, sharedDispatcher} from '../../../src/transport/clientTls.js'
import {type TlsMaterial} from '../../../src/transport/tlsMaterial.js'
import {assertDistFresh, type CliChild, spawnCli} from '../../support/cliChild.js'

const BUILT = ['commands/router/serve', 'src/daemon/readyLine', 'src/router/routerService', 'src/router/coordinator', 'src/router/routerHttp', 'src/router/shardMapView', 'src/repair/repairService', 'commands/repair']

/** assertRouterDistFresh fails clearly when dist/ is older than the router sources (`npm test` builds first). */
export function assertRouterDistFresh(): void {
  assertDistFresh(BUILT)
}

/** RouterProcess is a running `shardctl router serve` child; `address` is set once it listens. */
export type RouterProcess = CliChild

/**
 * startRouterProcess spawns `router serve --listen 127.0.0.1:0` and resolves once it has
 * printed its address and /healthz says it serves (bounded by `readyTimeoutMs`).
 */
export async function startRouterProcess(opts: {endpoint: string; cluster: string; id: string; extra?: string[]; host?: string; env?: Record<string, string>; tls?: TlsMaterial}, readyTimeoutMs = 20_000): Promise<RouterProcess> {
  assertRouterDistFresh()
  const args = ['router', 'serve', '--endpoints', opts.endpoint, '--cluster', opts.cluster, '--id', opts.id, '--listen', `${opts.host ?? '127.0.0.1'}:0`, ...(opts.extra?.includes('--lease-ttl') ? [] : ['--lease-ttl', '3']), ...(opts.extra ?? [])]
  const proc: RouterProcess = spawnCli(args, opts.env)
  const deadline = Date.now() + readyTimeoutMs
  while (Date.now() < deadline) {
    if (proc.gone()) throw new Error(`router ${opts.id} exited before serving (${await proc.exited}): ${proc.logs().slice(-2000)}`)
    // Its own ready line (text, or the --json event), and then /healthz naming it: not whatever answers there.
    const address = readyAddress(proc.stdout(), 'router', opts.id)
    if (address) {
      proc.address = address
      try {
        // A TLS handshake on a loaded machine can take more than a second.
        const res = await request(dataPlaneUrl(proc.address, opts.tls, '/healthz'), {dispatcher: sharedDispatcher(opts.tls), signal: AbortSignal.timeout(opts.tls ? 5000 : 1000)})
        const health = (await res.body.json().catch(() => ({}))) as {router?: string}
        if (res.statusCode === 200 && health.router === opts.id) return proc
      } catch {
        // not ready yet
      }
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  await proc.kill()
  throw new Error(`router ${opts.id} did not serve within ${readyTimeoutMs} ms: ${proc.logs().slice(-2000)}`)
}
