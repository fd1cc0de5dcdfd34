import {z} from 'zod'
import {getMeta} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, isUserError} from '../errors/errors.js'
import {type TlsMaterial} from '../transport/tlsMaterial.js'
import {securityKeys} from './securityKeys.js'

/**
 * ClusterSecuritySchema: the `security` key. `tlsOnly`: every data-plane process must speak
 * TLS (nodes and routers refuse to start without certificates, clients without the CA).
 * `authRequired`: routers demand a user's token or client certificate on /kv and /metrics.
 * Absent key: both false (clusters created before this existed).
 */
export const ClusterSecuritySchema = z.object({
  version: z.literal(1),
  tlsOnly: z.boolean(),
  authRequired: z.boolean(),
  updatedAt: z.string(),
})

/** ClusterSecurity is a validated `security` value. */
export type ClusterSecurity = z.infer<typeof ClusterSecuritySchema>

/** getClusterSecurity reads the switches (both off when never set). Throws UserError(CORRUPT_VALUE) on an invalid value. */
export async function getClusterSecurity(ctx: ServiceContext): Promise<ClusterSecurity & {revision: bigint}> {
  const got = await ctx.store.getTyped(securityKeys(ctx).security, ClusterSecuritySchema)
  if (!got) return {version: 1, tlsOnly: false, authRequired: false, updatedAt: new Date(0).toISOString(), revision: 0n}
  return {...got.value, revision: got.modRevision}
}

/** SecurityChange is a partial update; an absent field keeps its value. */
export interface SecurityChange {
  tlsOnly?: boolean
  authRequired?: boolean
}

/** SecuritySwitch names a switch as the CLI flag does. */
export type SecuritySwitch = 'tls-only' | 'auth'

/**
 * SWITCH_LOCKOUT says, for each switch, whom turning it on locks out: what an operator must
 * read before confirming it.
 */
export const SWITCH_LOCKOUT: Record<SecuritySwitch, string> = {
  'tls-only': 'tls-only: nodes, routers, the executor and repair without --tls-cert/--tls-key/--tls-ca refuse to start (running ones keep their transport until restarted: restart them with certificates first)',
  auth: 'auth: within about a second, routers answer 401 to every /kv and /metrics request without a user token or client certificate, and 403 outside the user\'s roles (add roles and users first)',
}

/**
 * ConfirmTurningOn is asked before a change turns a switch on (never for turning one off,
 * or for a switch already on); it throws to stop the change (nothing is written then).
 */
export type ConfirmTurningOn = (switches: readonly SecuritySwitch[]) => Promise<void>

/**
 * setClusterSecurity applies `change` with a compare-and-swap on the key's revision
 * (retried on a concurrent change) and returns the settings and whether anything changed
 * (false: "already so"). When the change turns a switch on, `confirm` is awaited once
 * before anything is written, and what it throws propagates. Throws UserError(NOT_FOUND)
 * when the cluster does not exist.
 * Processes already running keep the transport they started with: restart them (TLS-only)
 * or they pick up `authRequired` within a second (routers poll it).
 */
export async function setClusterSecurity(ctx: ServiceContext, change: SecurityChange, confirm?: ConfirmTurningOn): Promise<{security: ClusterSecurity; changed: boolean}> {
  await getMeta(ctx)
  const key = securityKeys(ctx).security
  let confirmed = false
  for (let attempt = 0; attempt < 5; attempt++) {
    const {revision, ...current} = await getClusterSecurity(ctx)
    const next: ClusterSecurity = {...current, tlsOnly: change.tlsOnly ?? current.tlsOnly, authRequired: change.authRequired ?? current.authRequired}
    if (next.tlsOnly === current.tlsOnly && next.authRequired === current.authRequired) return {security: current, changed: false}
    const turningOn: SecuritySwitch[] = [...(next.tlsOnly && !current.tlsOnly ? ['tls-only' as const] : []), ...(next.authRequired && !current.authRequired ? ['auth' as const] : [])]
    if (confirm && turningOn.length > 0 && !confirmed) {
      await confirm(turningOn)
      confirmed = true
    }
    next.updatedAt = ctx.clock().toISOString()
    try {
      if (revision === 0n) await ctx.store.create(key, JSON.stringify(next))
      else await ctx.store.update(key, JSON.stringify(next), revision)
      return {security: next, changed: true}
    } catch (err) {
      if (!isUserError(err, 'CONFLICT') && !isUserError(err, 'ALREADY_EXISTS')) throw err
    }
  }
  throw new UserError('CONFLICT', 'the security settings kept changing under us', 'retry')
}

/**
 * requireTransportAllowed refuses to run `who` (a node, router or client) in plaintext when
 * the cluster is TLS-only. Throws UserError(TLS_REQUIRED) naming the flags to pass.
 */
export async function requireTransportAllowed(ctx: ServiceContext, tls: TlsMaterial | undefined, who: string): Promise<void> {
  if (tls) return
  if (!(await getClusterSecurity(ctx)).tlsOnly) return
  throw new UserError(
    'TLS_REQUIRED',
    `cluster "${ctx.cluster}" is TLS-only: ${who} cannot run in plaintext`,
    'pass --tls-cert, --tls-key and --tls-ca (or SHARDCTL_TLS_CERT, SHARDCTL_TLS_KEY, SHARDCTL_TLS_CA); make them with `shardctl cert create-ca` and `shardctl cert create-node`',
  )
}
