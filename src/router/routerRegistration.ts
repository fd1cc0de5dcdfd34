import {z} from 'zod'
import {boundedWait} from '../clock/boundedWait.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError} from '../errors/errors.js'
import {type LeaseHandle} from '../etcd/leaseHandle.js'
import {REVOKE_WAIT_MS} from '../store/leasedMembership.js'
import {type Compare} from '../store/store.js'
import {FloorFenceError} from './writeFloorRecord.js'

/**
 * RouterRecordSchema: the leased `routers/<id>` value a serving router keeps current.
 *
 * - `mapRevision`: the etcd revision up to which this router has applied shard-map changes
 *   (decimal string; see ShardMapView). **Barrier check**: a router has caught up with a
 *   shard-map transaction committed at revision R iff `BigInt(mapRevision) >= R`.
 * - `epochs`: shard id → the epoch the router routes that shard with (the same fact per
 *   shard: `epochs[S] >= E`).
 * - `p99Ms`: client request p99 (ms) over the last reporting window, for an adaptive throttle.
 *
 * The key is attached to the router's lease: a dead router's entry vanishes after its TTL.
 * A router whose lease lapsed stops serving until it has re-read the map (and confirmed its
 * write floor: LapsedServing), and a barrier needs to count only the routers listed because
 * live replicas refuse every request carrying an older epoch than theirs.
 */
export const RouterRecordSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  address: z.string(),
  pid: z.number().int().positive(),
  startedAt: z.string(),
  updatedAt: z.string(),
  mapRevision: z.string().regex(/^\d+$/),
  epochs: z.record(z.string(), z.number().int().min(1)),
  p99Ms: z.number().nonnegative().nullable(),
  /**
   * w: the router's `--w` (null: a majority of each shard's voters). Absent in entries of
   * routers that predate it: the executor then assumes the worst (w = 1) when it picks
   * copy sources.
   */
  w: z.number().int().min(1).nullable().optional(),
  /** clockOffsetMs: the router's measured clock offset from its peers (positive: ahead); null when unmeasured. */
  clockOffsetMs: z.number().nullable().optional(),
  /** clockOk is false while that offset is beyond the cluster's bound (the router refuses writes). */
  clockOk: z.boolean().optional(),
  /**
   * clientRequests / clientErrors: client key-value requests answered since the router
   * started, and those answered with a 5xx (see ClientTally). Absent in entries of routers
   * that predate them. Readers (the TUI) derive requests/s from two entries.
   */
  clientRequests: z.number().int().nonnegative().optional(),
  clientErrors: z.number().int().nonnegative().optional(),
})

/** RouterRecord is a validated router registration. */
export type RouterRecord = z.infer<typeof RouterRecordSchema>

/** RouterView is what a registration publishes about the router's map, read when writing. */
export interface RouterView {
  mapRevision: bigint
  epochs: Record<string, number>
  p99Ms: number | null
  clockOffsetMs?: number | null
  clockOk?: boolean
  clientRequests?: number
  clientErrors?: number
}

/** RouterRegistrationOptions configure {@link RouterRegistration}. */
export interface RouterRegistrationOptions {
  id: string
  address: string
  view: () => RouterView
  /** writeQuorum is the router's `--w` (undefined/null: majority), published for the executor's copy-source choice. */
  writeQuorum?: number | null
  /**
   * onLost: the entry is gone, or is another registration's, though the lease lives (`cluster
   * init --force` deleted the prefix under a running router). The owner must treat it as a lost
   * lease: stop serving, lower the write floor again and register fenced (LeasedMembership.lose).
   */
  onLost?: (lease: LeaseHandle, err: Error) => void
}

/**
 * RouterRegistration keeps the router's leased `routers/<id>` entry current, under a lease
 * its owner's LeasedMembership granted (one registration per lease). Updates are
 * coalesced: at most one put is in flight, and a change during it causes exactly one more
 * put of the then-current view, so a burst of map events costs two writes and the entry
 * trails the router by about one etcd round trip (what the executor's barrier waits for).
 */
export class RouterRegistration {
  private lease?: LeaseHandle
  /** createRevision is routers/<id>'s create revision as register() committed it: every update is conditioned on it. */
  private createRevision = 0n
  private writing?: Promise<void>
  private again = false
  private stopped = false
  private readonly startedAt = new Date().toISOString()

  constructor(
    private readonly ctx: ServiceContext,
    private readonly opts: RouterRegistrationOptions,
  ) {}

  /**
   * register creates the entry under `lease`. Throws UserError(ALREADY_EXISTS) when another
   * live router uses the same id, {@link FloorFenceError} when `fence` (what recordWriteQuorum
   * returned) no longer holds, and the store's errors when etcd is unreachable; the caller
   * owns (and revokes) the lease.
   */
  async register(lease: LeaseHandle, fence: readonly Compare[] = []): Promise<void> {
    const key = this.ctx.keys.router(this.opts.id)
    const rev = await this.ctx.store.commit({compares: [{key, createRevision: 0n}, ...fence], puts: [{key, value: this.body(), lease: lease.id}]})
    if (rev === undefined) {
      if (await this.ctx.store.get(key)) throw new UserError('ALREADY_EXISTS', `router id "${this.opts.id}" is registered by another live router`, 'pick another --id, or wait for the other one\'s lease to expire')
      throw new FloorFenceError(this.opts.id)
    }
    this.createRevision = rev
    this.lease = lease
  }

  /** update publishes the current view soon (coalesced; errors are retried by the next update or heartbeat). */
  update(): void {
    if (this.stopped || !this.lease) return
    if (this.writing) {
      this.again = true
      return
    }
    this.writing = this.put().finally(() => {
      this.writing = undefined
      if (this.again) {
        this.again = false
        this.update()
      }
    })
  }

  /** settled resolves once no update is in flight or queued (tests, shutdown). */
  async settled(): Promise<void> {
    for (let i = 0; i < 100 && this.writing; i++) await this.writing
  }

  /**
   * deregister deletes the entry by revoking the lease, after the update in flight: waiting
   * at most {@link REVOKE_WAIT_MS} in all (best effort: a lease etcd does not hear revoked
   * expires by its TTL, and a router's stop must end while etcd is frozen). Idempotent.
   */
  async deregister(): Promise<void> {
    this.stopped = true
    await boundedWait(
      (async () => {
        await this.settled()
        await this.lease?.revoke().catch(() => {})
      })(),
      REVOKE_WAIT_MS,
    )
  }

  /**
   * put rewrites the entry only while it is still the one register() created: an unconditional
   * put would re-create it after `cluster init --force` deleted it (the lease survives that), so
   * the router would be registered in the new cluster without having lowered its write floor.
   * A failed condition is reported as a lost registration; etcd errors are left to the next update.
   */
  private async put(): Promise<void> {
    const lease = this.lease
    if (!lease || lease.lost) return
    const key = this.ctx.keys.router(this.opts.id)
    let rev: bigint | undefined
    try {
      rev = await this.ctx.store.commit({compares: [{key, createRevision: this.createRevision}], puts: [{key, value: this.body(), lease: lease.id}]})
    } catch {
      return
    }
    if (rev !== undefined || this.stopped) return
    this.stopped = true
    this.opts.onLost?.(lease, new Error(`its registration ${key} was deleted or replaced (cluster init --force?)`))
  }

  private body(): string {
    const v = this.opts.view()
    const record: RouterRecord = {
      id: this.opts.id,
      address: this.opts.address,
      pid: process.pid,
      startedAt: this.startedAt,
      updatedAt: this.ctx.clock().toISOString(),
      mapRevision: v.mapRevision.toString(),
      epochs: v.epochs,
      p99Ms: v.p99Ms,
      w: this.opts.writeQuorum ?? null,
      ...(v.clockOffsetMs === undefined ? {} : {clockOffsetMs: v.clockOffsetMs}),
      ...(v.clockOk === undefined ? {} : {clockOk: v.clockOk}),
      ...(v.clientRequests === undefined ? {} : {clientRequests: v.clientRequests}),
      ...(v.clientErrors === undefined ? {} : {clientErrors: v.clientErrors}),
    }
    return JSON.stringify(record)
  }
}

/** parseRouterRecord reads one `routers/<id>` value: the registration, or undefined when it is not JSON or not a valid record. */
export function parseRouterRecord(value: string): RouterRecord | undefined {
  let json: unknown
  try {
    json = JSON.parse(value)
  } catch {
    return undefined
  }
  const r = RouterRecordSchema.safeParse(json)
  return r.success ? r.data : undefined
}

/** listRouters returns the live routers' registrations (invalid entries skipped), in id order. */
export async function listRouters(ctx: ServiceContext): Promise<RouterRecord[]> {
  const {items} = await ctx.store.list(ctx.keys.routersPrefix)
  return items.map((kv) => parseRouterRecord(kv.value)).filter((r): r is RouterRecord => r !== undefined)
}

/**
 * RouterQuorum is one `routers/<id>` entry's write quorum: `w` is its `--w`, null for a
 * majority, undefined when the entry does not say (a router that predates it) or cannot be
 * read; readers count undefined as 1 (effectiveWriteQuorum): it may be a `--w 1` router.
 */
export interface RouterQuorum {
  id: string
  w: number | null | undefined
}

/**
 * listRouterQuorums lists every `routers/<id>` entry with its write quorum, in id order,
 * unreadable ones included (unlike {@link listRouters}: skipping one would drop a router
 * that may acknowledge with w = 1). Read by the copy-source choice of a move whose source
 * is down and by `cluster write-floor adopt`.
 */
export async function listRouterQuorums(ctx: ServiceContext): Promise<RouterQuorum[]> {
  const {items} = await ctx.store.list(ctx.keys.routersPrefix)
  return items.map((kv) => ({id: kv.key.slice(ctx.keys.routersPrefix.length), w: parseRouterRecord(kv.value)?.w}))
}
