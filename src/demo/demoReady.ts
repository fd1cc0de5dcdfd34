import {request} from 'undici'
import {UserError} from '../errors/errors.js'
import {type DaemonRole, readyAddress} from '../daemon/readyLine.js'
import {dataPlaneUrl, sharedDispatcher} from '../transport/clientTls.js'
import {type TlsMaterial} from '../transport/tlsMaterial.js'

/**
 * DEMO_SERVE_TIMEOUT_MS is how long the demo waits for one child (a node, the router) to serve
 * before it gives up, its children starting on a loaded machine; the failure message states it.
 */
export const DEMO_SERVE_TIMEOUT_MS = 90_000

/** ReadyChild is what waitServing reads of a demo child: its name, whether it exited, and what it printed. */
export interface ReadyChild {
  name: string
  /** printed is everything it wrote so far (stdout and stderr), from the start: the ready line comes early and must not have scrolled out. */
  printed(): string
  /** output is the tail of what it printed, for error messages. */
  output(): string
  exited(): boolean
}

/** WaitServingOptions: which daemon the child is (its ready line and /healthz name it), the TLS to probe with, the bound. */
export interface WaitServingOptions {
  role: DaemonRole
  id: string
  tls: TlsMaterial | undefined
  /** timeoutMs bounds the wait: DEMO_SERVE_TIMEOUT_MS unless a test sets it. */
  timeoutMs?: number
}

/**
 * healthzNames tells whether a /healthz answer is daemon `role` `id` serving: 200, not saying
 * it is not serving, and naming the id (a node answers `node`, a router `router`). An answer
 * from anything else at the address (another process that took a port, a stale node) is not
 * the child's.
 */
export function healthzNames(role: DaemonRole, id: string, status: number, body: unknown): boolean {
  if (status !== 200 || typeof body !== 'object' || body === null) return false
  const b = body as Record<string, unknown>
  return b.serving !== false && b[role] === id
}

/**
 * waitServing waits until `child` printed its own ready line (its role and id; the address it
 * registered, the bound port of a `--listen 127.0.0.1:0`) and /healthz there names it serving,
 * and returns that address. The child's own line, not a port chosen beforehand: a port chosen
 * free and released can be taken by another process before the child binds it, and an answer
 * from that process was taken for the child. Throws UserError INTERNAL when the child exits or
 * does not serve within the bound (with its output, and the bound in the message), INTERRUPTED
 * once `signal` aborts. The bound is kept: a /healthz probe or pause never runs past it.
 */
export async function waitServing(child: ReadyChild, opts: WaitServingOptions, signal: AbortSignal): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? DEMO_SERVE_TIMEOUT_MS
  const deadline = Date.now() + timeoutMs
  // Never past the deadline, so the bound the message states is the time the wait took.
  const left = () => Math.max(1, deadline - Date.now())
  while (Date.now() < deadline && !signal.aborted) {
    if (child.exited()) throw new UserError('INTERNAL', `${child.name} exited while starting: ${child.output().slice(-600)}`)
    const address = readyAddress(child.printed(), opts.role, opts.id)
    if (address) {
      try {
        const res = await request(dataPlaneUrl(address, opts.tls, '/healthz'), {dispatcher: sharedDispatcher(opts.tls), signal: AbortSignal.timeout(Math.min(opts.tls ? 5000 : 1000, left()))})
        const body = await res.body.json().catch(() => undefined)
        if (healthzNames(opts.role, opts.id, res.statusCode, body)) return address
      } catch {
        // not answering yet
      }
    }
    await new Promise((r) => setTimeout(r, Math.min(150, left())))
  }
  throw new UserError(signal.aborted ? 'INTERRUPTED' : 'INTERNAL', signal.aborted ? 'demo interrupted' : `${child.name} did not serve within ${secondsText(timeoutMs)}: ${child.output().slice(-600)}`)
}

/** secondsText is `ms` in seconds for a message, to a tenth and rounded down (`90 s`, `1.2 s`): never a bound longer than the wait. */
function secondsText(ms: number): string {
  return `${Math.floor(ms / 100) / 10} s`
}
