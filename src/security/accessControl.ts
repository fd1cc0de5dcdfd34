import {createHash, timingSafeEqual} from 'node:crypto'
import {z} from 'zod'

/*
 * Router authorisation, pure: who a request is (a token or a client certificate's CN) and
 * whether any of that user's roles allows the operation on the key. No I/O, no clock; the
 * router feeds it the users and roles it read from etcd.
 */

/** NAME_PATTERN is what a user or role name may be: also a certificate CN and part of an etcd key, never a "." (the token separator). */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/

/** ACCESS_LEVELS, each including the one before: `read` (GET), `write` (GET, PUT, DELETE), `admin` (those plus /metrics). */
export const ACCESS_LEVELS = ['read', 'write', 'admin'] as const

/** Access is one of {@link ACCESS_LEVELS}. */
export type Access = (typeof ACCESS_LEVELS)[number]

/** RoleSchema: `auth/roles/<name>`. `prefixes` are key prefixes (UTF-8); `""` is every key. */
export const RoleSchema = z.object({
  version: z.literal(1),
  name: z.string().regex(NAME_PATTERN),
  access: z.enum(ACCESS_LEVELS),
  prefixes: z.array(z.string().max(1024)).min(1).max(64),
})

/** Role is a validated role. */
export type Role = z.infer<typeof RoleSchema>

/** TokenHashSchema is one token of a user: its id (shown, to revoke it) and sha256 of its secret (never the secret). */
export const TokenHashSchema = z.object({id: z.string().regex(/^[a-f0-9]{8}$/), sha256: z.string().regex(/^[a-f0-9]{64}$/), createdAt: z.string()})

/**
 * UserSchema: `auth/users/<name>`. A user proves itself with any of its `tokens` (up to two,
 * so one can be rotated without downtime) or, when `certificate` is true, with a client
 * certificate of the cluster CA whose CN is the user's name.
 */
export const UserSchema = z.object({
  version: z.literal(1),
  name: z.string().regex(NAME_PATTERN),
  roles: z.array(z.string().regex(NAME_PATTERN)).min(1).max(32),
  tokens: z.array(TokenHashSchema).max(2),
  certificate: z.boolean(),
  createdAt: z.string(),
})

/** User is a validated user. */
export type User = z.infer<typeof UserSchema>

/** AuthDirectory is what authorisation reads: users and roles by name. */
export interface AuthDirectory {
  users: ReadonlyMap<string, User>
  roles: ReadonlyMap<string, Role>
}

/** Credentials are what a request presented: a bearer token and/or a verified client certificate's CN. */
export interface Credentials {
  bearer?: string
  certificateCn?: string
}

/** Operation is what the router is asked to do: a key operation, or reading metrics. */
export type Operation = {kind: 'read' | 'write'; key: Buffer} | {kind: 'metrics'}

/** Decision allows a request (naming the user) or refuses it with the code and a message that never contains a secret. */
export type Decision = {allowed: true; user: string} | {allowed: false; code: 'UNAUTHORIZED' | 'FORBIDDEN'; message: string}

/** hashSecret is the stored form of a token's secret: hex sha256. A 256-bit random secret needs no salt or slow hash. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

/** formatToken is the token a user holds: `<user>.<secret>`. */
export function formatToken(user: string, secret: string): string {
  return `${user}.${secret}`
}

// A fixed hash compared against when the user is unknown, so the time taken does not say
// whether the name exists.
const DECOY = Buffer.from(hashSecret('decoy'), 'hex')

/**
 * authenticate returns the user a request proves to be, or undefined. A token is checked by
 * comparing the sha256 of its secret with each stored hash in constant time (every stored
 * token is compared, and an unknown user is compared against a decoy); a certificate CN
 * counts only for a user that allows certificates.
 */
export function authenticate(dir: AuthDirectory, creds: Credentials): User | undefined {
  if (creds.bearer !== undefined) {
    const dot = creds.bearer.indexOf('.')
    const name = dot > 0 ? creds.bearer.slice(0, dot) : ''
    const presented = Buffer.from(hashSecret(dot > 0 ? creds.bearer.slice(dot + 1) : creds.bearer), 'hex')
    const user = dir.users.get(name)
    let match = false
    for (const t of user?.tokens.length ? user.tokens : [undefined]) {
      const stored = t ? Buffer.from(t.sha256, 'hex') : DECOY
      // Non-short-circuit OR: every token is compared whatever the earlier ones said.
      match = timingSafeEqual(presented, stored) || match
    }
    if (match && user) return user
  }
  if (creds.certificateCn !== undefined) {
    const user = dir.users.get(creds.certificateCn)
    if (user?.certificate) return user
  }
  return undefined
}

const RANK: Record<Access, number> = {read: 0, write: 1, admin: 2}

/** needed is the least access an operation takes. */
function needed(op: Operation): Access {
  return op.kind === 'metrics' ? 'admin' : op.kind
}

/**
 * authorize decides one request: UNAUTHORIZED (401) without valid credentials, FORBIDDEN
 * (403) when no role of the user grants the operation's access on a prefix of the key
 * (roles that do not exist grant nothing), else allowed. Messages name the user and the
 * operation, never a token or the key's bytes.
 */
export function authorize(dir: AuthDirectory, creds: Credentials, op: Operation): Decision {
  const user = authenticate(dir, creds)
  if (!user) {
    const presented = creds.bearer !== undefined ? 'the token is not valid' : creds.certificateCn !== undefined ? `no user "${creds.certificateCn}" accepts certificates` : 'no credentials were presented'
    return {allowed: false, code: 'UNAUTHORIZED', message: `authentication required: ${presented}; send "authorization: Bearer <token>" or a client certificate of a user`}
  }
  const want = needed(op)
  for (const name of user.roles) {
    const role = dir.roles.get(name)
    if (!role || RANK[role.access] < RANK[want]) continue
    if (op.kind === 'metrics' || role.prefixes.some((p) => op.key.subarray(0, Buffer.byteLength(p)).equals(Buffer.from(p)))) return {allowed: true, user: user.name}
  }
  const what = op.kind === 'metrics' ? 'read metrics' : `${op.kind} this key`
  return {allowed: false, code: 'FORBIDDEN', message: `user "${user.name}" may not ${what}: no role grants ${want} access${op.kind === 'metrics' ? '' : ' on a prefix of it'}`}
}
