import {boundedWait} from '../clock/boundedWait.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {decodeStored} from '../etcd/etcdStore.js'
import {lastSegment} from '../etcd/keys.js'
import {type AuthDirectory, type Role, RoleSchema, type User, UserSchema} from './accessControl.js'
import {getClusterSecurity} from './clusterSecurity.js'
import {securityKeys} from './securityKeys.js'

/** STOP_READ_WAIT_MS bounds how long {@link AuthFollower.stop} waits for a read in flight. */
const STOP_READ_WAIT_MS = 1000

/** AuthFollowerOptions: how often to re-read, and where to say that a value was skipped. */
export interface AuthFollowerOptions {
  intervalMs?: number
  /** log hears about invalid values skipped and failed refreshes (never a secret: values are not logged). */
  log?: (line: string) => void
}

/**
 * AuthFollower keeps a router's copy of the cluster's users, roles and `authRequired`
 * switch, re-read from etcd every `intervalMs` (default 1 s): a user added, a token revoked
 * or a role changed applies to new requests within about a second, without a restart.
 * Polling (one range read of a few keys) rather than a watch keeps it simple to reason
 * about: a failed read keeps the last good copy, never an empty one. An invalid value is
 * skipped (that user or role grants nothing) and logged by key.
 */
export class AuthFollower {
  private dir: AuthDirectory = {users: new Map(), roles: new Map()}
  private authRequired = false
  private timer?: NodeJS.Timeout
  private refreshing?: Promise<void>

  constructor(
    private readonly ctx: ServiceContext,
    private readonly opts: AuthFollowerOptions = {},
  ) {}

  /** start reads once (throws its etcd errors: a router must not serve with unknown settings) and keeps re-reading. */
  async start(): Promise<void> {
    await this.refresh()
    this.timer = setInterval(() => {
      this.refreshing ??= this.refresh()
        .catch((err: unknown) => this.opts.log?.(`auth settings not refreshed, keeping the last ones: ${(err as Error).message}`))
        .finally(() => (this.refreshing = undefined))
    }, this.opts.intervalMs ?? 1000)
    this.timer.unref()
  }

  /** required says whether requests must carry credentials (the cluster's `authRequired`). */
  required(): boolean {
    return this.authRequired
  }

  /** directory is the latest users and roles. */
  directory(): AuthDirectory {
    return this.dir
  }

  /**
   * stop ends the polling, waiting at most {@link STOP_READ_WAIT_MS} for a read in flight (its
   * result changes nothing any more; an etcd that does not answer held a router's stop for
   * the read's whole deadline and resends). Idempotent.
   */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    if (this.refreshing) await boundedWait(this.refreshing, STOP_READ_WAIT_MS)
  }

  private async refresh(): Promise<void> {
    const keys = securityKeys(this.ctx)
    const [security, {items}] = await Promise.all([getClusterSecurity(this.ctx), this.ctx.store.list(keys.authPrefix)])
    const users = new Map<string, User>()
    const roles = new Map<string, Role>()
    for (const kv of items) {
      try {
        if (kv.key.startsWith(keys.usersPrefix)) users.set(lastSegment(kv.key), decodeStored(kv, UserSchema).value)
        else if (kv.key.startsWith(keys.rolesPrefix)) roles.set(lastSegment(kv.key), decodeStored(kv, RoleSchema).value)
      } catch {
        this.opts.log?.(`ignoring invalid auth value at ${kv.key}`)
      }
    }
    this.dir = {users, roles}
    this.authRequired = security.authRequired
  }
}
