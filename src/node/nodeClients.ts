import {defaultClientTls} from '../transport/clientTls.js'
import {type TlsMaterial} from '../transport/tlsMaterial.js'
import {NODE_REQUEST_TIMEOUT_MS, NodeClient, type NodeClientOptions} from './nodeClient.js'

/** NodeTarget names a node and where it serves. */
export interface NodeTarget {
  id: string
  address: string
}

/**
 * NodeClients keeps one {@link NodeClient} (keep-alive pool) per node. `retain` follows
 * the shard map: a node that left, or changed address, has its pool drained (no new
 * requests; in-flight ones finish; then its connections close) in the background.
 */
export class NodeClients {
  private readonly clients = new Map<string, NodeClient>()
  private readonly draining = new Set<Promise<void>>()
  private readonly retiring = new Map<NodeJS.Timeout, NodeClient[]>()

  constructor(private defaults: Omit<NodeClientOptions, 'node' | 'address'>) {}

  /**
   * renew retires every pool (closed after one request timeout; in-flight requests finish
   * on their connections) so the next request to each node dials afresh: with `tls` when given, else with the process default
   * TLS as it is now. This is how rotated certificates and CA bundles reach client
   * connections without a restart.
   */
  renew(tls?: NodeClientOptions['tls']): void {
    if (tls !== undefined) this.defaults = {...this.defaults, tls}
    const retired = [...this.clients.values()]
    this.clients.clear()
    // Callers may hold a pool for a moment (a batch being gathered): close the old pools
    // only after one request timeout has passed, so nothing is sent to a closed pool.
    const timer = setTimeout(() => {
      this.retiring.delete(timer)
      for (const c of retired) this.drain(c)
    }, this.defaults.timeoutMs ?? NODE_REQUEST_TIMEOUT_MS)
    timer.unref()
    this.retiring.set(timer, retired)
  }

  /**
   * peerSettings are the token, timeout and TLS its pools dial with now (the process
   * default TLS when it was given none): what another thread needs to dial the same way.
   */
  peerSettings(): {token: string; timeoutMs: number; tls: TlsMaterial | undefined} {
    return {token: this.defaults.token, timeoutMs: this.defaults.timeoutMs ?? NODE_REQUEST_TIMEOUT_MS, tls: this.defaults.tls ?? defaultClientTls()}
  }

  /** client returns the pool for `target`, creating it (or replacing one with a stale address). */
  client(target: NodeTarget): NodeClient {
    const existing = this.clients.get(target.id)
    if (existing && existing.address === target.address) return existing
    if (existing) this.drain(existing)
    const c = new NodeClient({...this.defaults, node: target.id, address: target.address})
    this.clients.set(target.id, c)
    return c
  }

  /** retain drains every pool whose node is not in `ids`. Returns the ids drained. */
  retain(ids: ReadonlySet<string>): string[] {
    const gone: string[] = []
    for (const [id, c] of this.clients) {
      if (ids.has(id)) continue
      this.clients.delete(id)
      this.drain(c)
      gone.push(id)
    }
    return gone
  }

  /** close drains every pool and waits for all of them (bounded by each request's timeout). */
  async close(): Promise<void> {
    for (const [timer, retired] of this.retiring) {
      clearTimeout(timer)
      for (const c of retired) this.drain(c)
    }
    this.retiring.clear()
    for (const c of this.clients.values()) this.drain(c)
    this.clients.clear()
    await Promise.all([...this.draining])
  }

  private drain(c: NodeClient): void {
    const p = c.close().catch(() => c.destroy().catch(() => {})).finally(() => this.draining.delete(p))
    this.draining.add(p)
  }
}
