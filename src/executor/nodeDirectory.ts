import {UserError} from '../errors/errors.js'

/**
 * NodeDirectory maps node ids to their advertised addresses for the executor, re-reading
 * the node records when its copy is older than `maxAgeMs` or lacks the id asked for. A
 * node restarted on another port is therefore reached at its new address within
 * `maxAgeMs`, instead of the executor retrying a dead address for the rest of its run.
 * Concurrent look-ups share one read.
 */
export class NodeDirectory {
  private addresses = new Map<string, string>()
  private loadedAt = Number.NEGATIVE_INFINITY
  private loading?: Promise<void>

  constructor(
    private readonly load: () => Promise<Map<string, string>>,
    private readonly now: () => number,
    private readonly maxAgeMs = 2000,
  ) {}

  /** address returns `id`'s current address. Throws UserError(NOT_FOUND) when no record names it, and the loader's errors. */
  async address(id: string): Promise<string> {
    if (!this.addresses.has(id) || this.now() - this.loadedAt > this.maxAgeMs) await this.reload()
    const a = this.addresses.get(id)
    if (!a) throw new UserError('NOT_FOUND', `node "${id}" is not registered`, 'list nodes with `shardctl node list`')
    return a
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const started = this.now()
        this.addresses = await this.load()
        this.loadedAt = started
      } finally {
        this.loading = undefined
      }
    })()
    return this.loading
  }
}
