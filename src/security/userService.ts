import {randomBytes} from 'node:crypto'
import {getMeta} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, isUserError} from '../errors/errors.js'
import {type Access, formatToken, hashSecret, NAME_PATTERN, type Role, RoleSchema, type User, UserSchema} from './accessControl.js'
import {securityKeys} from './securityKeys.js'

/*
 * Users and roles of the router, in etcd. Secrets: a token's secret is returned once by
 * addUser / addToken (for the command to write to a 0600 file) and only its sha256 is
 * stored; list results carry token ids, never hashes.
 */

/** RoleView is a role as listed. */
export type RoleView = Omit<Role, 'version'>

/** UserView is a user as listed: token ids and dates, no hashes. */
export interface UserView {
  name: string
  roles: string[]
  certificate: boolean
  tokens: {id: string; createdAt: string}[]
}

function checkName(kind: 'user' | 'role', name: string): void {
  if (!NAME_PATTERN.test(name)) throw new UserError('BAD_INPUT', `"${name}" is not a valid ${kind} name`, 'use 1-64 letters, digits, "_" or "-"')
}

/** putRole creates or replaces a role. Throws UserError: BAD_INPUT (name, no prefix), NOT_FOUND (no cluster). Returns whether it changed and the line that says what the role grants. */
export async function putRole(ctx: ServiceContext, name: string, access: Access, prefixes: readonly string[]): Promise<{role: RoleView; changed: boolean; message: string}> {
  checkName('role', name)
  if (prefixes.length === 0) throw new UserError('BAD_INPUT', 'a role needs at least one --prefix', 'pass --prefix "" for every key, or --prefix app/ for keys starting with app/')
  await getMeta(ctx)
  const role: Role = RoleSchema.parse({version: 1, name, access, prefixes: [...new Set(prefixes)]})
  const key = securityKeys(ctx).role(name)
  const existing = await ctx.store.get(key)
  const text = JSON.stringify(role)
  const grants = `${role.access} on ${role.prefixes.map((p) => JSON.stringify(p)).join(', ')}`
  if (existing?.value === text) return {role: view(role), changed: false, message: `role ${name} already grants ${grants}: nothing changed`}
  await ctx.store.put(key, text)
  return {role: view(role), changed: true, message: `role ${name}: ${grants}`}
}

/** removeRole deletes a role (users naming it lose what it granted). Returns false when it was already absent ("already done"). */
export async function removeRole(ctx: ServiceContext, name: string): Promise<boolean> {
  checkName('role', name)
  // "already absent" (exit 0) only in a cluster that exists: a mistyped --cluster is NOT_FOUND.
  await getMeta(ctx)
  const key = securityKeys(ctx).role(name)
  if (!(await ctx.store.get(key))) return false
  await ctx.store.delete(key)
  return true
}

/** listRoles returns every valid role by name (an invalid value throws CORRUPT_VALUE naming its key). */
export async function listRoles(ctx: ServiceContext): Promise<RoleView[]> {
  // A mistyped --cluster is NOT_FOUND, not a cluster without roles.
  const [, roles] = await Promise.all([getMeta(ctx), ctx.store.listTyped(securityKeys(ctx).rolesPrefix, RoleSchema)])
  return roles.items.map((r) => view(r.value))
}

/**
 * addUser creates a user with `roles` (each must exist) that authenticates with a new token
 * (returned once, as `<user>.<secret>`) and/or, with `certificate`, a client certificate of
 * CN `name`. Throws UserError: BAD_INPUT, NOT_FOUND (a role), ALREADY_EXISTS (the user).
 */
export async function addUser(ctx: ServiceContext, name: string, roles: readonly string[], opts: {token: boolean; certificate: boolean}): Promise<{user: UserView; token?: string}> {
  checkName('user', name)
  if (roles.length === 0) throw new UserError('BAD_INPUT', 'a user needs at least one --role', 'create one with `shardctl role add NAME --access read --prefix PREFIX`')
  if (!opts.token && !opts.certificate) throw new UserError('BAD_INPUT', 'the user would have no way to authenticate: --no-token without --certificate', 'keep the token, or add --certificate')
  await getMeta(ctx)
  const known = new Set((await listRoles(ctx)).map((r) => r.name))
  const unknown = roles.filter((r) => !known.has(r))
  if (unknown.length > 0) throw new UserError('NOT_FOUND', `no role ${unknown.map((r) => `"${r}"`).join(', ')} in cluster "${ctx.cluster}"`, 'create it first with `shardctl role add`')
  const minted = opts.token ? mint(ctx, name) : undefined
  const user: User = UserSchema.parse({version: 1, name, roles: [...new Set(roles)], tokens: minted ? [minted.stored] : [], certificate: opts.certificate === true, createdAt: ctx.clock().toISOString()})
  try {
    await ctx.store.create(securityKeys(ctx).user(name), JSON.stringify(user))
  } catch (err) {
    if (isUserError(err, 'ALREADY_EXISTS')) throw new UserError('ALREADY_EXISTS', `user "${name}" already exists; nothing was changed`, 'add a second token with `shardctl user add-token`, or remove the user first')
    throw err
  }
  return {user: userView(user), token: minted?.token}
}

/**
 * addToken gives `name` a second token for a rotation without downtime: clients move to
 * the new one, then `revokeToken` drops the old. Throws UserError: NOT_FOUND (user),
 * PRECONDITION (already two tokens: revoke one first), CONFLICT (changed meanwhile).
 */
export async function addToken(ctx: ServiceContext, name: string): Promise<{user: UserView; token: string}> {
  checkName('user', name)
  const {user, revision} = await getUser(ctx, name)
  if (user.tokens.length >= 2) throw new UserError('PRECONDITION', `user "${name}" already has two tokens (${user.tokens.map((t) => t.id).join(', ')})`, 'revoke the old one with `shardctl user revoke-token NAME ID` first')
  const minted = mint(ctx, name)
  const next: User = {...user, tokens: [...user.tokens, minted.stored]}
  await ctx.store.update(securityKeys(ctx).user(name), JSON.stringify(next), revision)
  return {user: userView(next), token: minted.token}
}

/** revokeToken removes token `id` of `name`; changed false (still success) when the user has no such token, and the message says so without claiming it was revoked. Throws UserError(NOT_FOUND) for the user, CONFLICT when changed meanwhile. */
export async function revokeToken(ctx: ServiceContext, name: string, id: string): Promise<{user: UserView; changed: boolean; message: string}> {
  checkName('user', name)
  const {user, revision} = await getUser(ctx, name)
  // Still success (a retried revoke must not fail), but not "already revoked": an id that was never the user's is more often a typo.
  if (!user.tokens.some((t) => t.id === id)) return {user: userView(user), changed: false, message: `user ${name} has no token ${id}: nothing to revoke (revoked already, or a typo: see \`shardctl user list\`)`}
  const next: User = {...user, tokens: user.tokens.filter((t) => t.id !== id)}
  await ctx.store.update(securityKeys(ctx).user(name), JSON.stringify(next), revision)
  return {user: userView(next), changed: true, message: `revoked token ${id} of ${name}`}
}

/** removeUser deletes a user; false when already absent ("already done"). */
export async function removeUser(ctx: ServiceContext, name: string): Promise<boolean> {
  checkName('user', name)
  // "already absent" (exit 0) only in a cluster that exists: a mistyped --cluster is NOT_FOUND.
  await getMeta(ctx)
  const key = securityKeys(ctx).user(name)
  if (!(await ctx.store.get(key))) return false
  await ctx.store.delete(key)
  return true
}

/** listUsers returns every user without secrets or hashes. */
export async function listUsers(ctx: ServiceContext): Promise<UserView[]> {
  // A mistyped --cluster is NOT_FOUND, not a cluster without users.
  const [, users] = await Promise.all([getMeta(ctx), ctx.store.listTyped(securityKeys(ctx).usersPrefix, UserSchema)])
  return users.items.map((u) => userView(u.value))
}

async function getUser(ctx: ServiceContext, name: string): Promise<{user: User; revision: bigint}> {
  const got = await ctx.store.getTyped(securityKeys(ctx).user(name), UserSchema)
  if (!got) throw new UserError('NOT_FOUND', `no user "${name}" in cluster "${ctx.cluster}"`, 'list them with `shardctl user list`')
  return {user: got.value, revision: got.modRevision}
}

function mint(ctx: ServiceContext, name: string): {token: string; stored: User['tokens'][number]} {
  const secret = randomBytes(32).toString('base64url')
  return {token: formatToken(name, secret), stored: {id: randomBytes(4).toString('hex'), sha256: hashSecret(secret), createdAt: ctx.clock().toISOString()}}
}

function view(r: Role): RoleView {
  return {name: r.name, access: r.access, prefixes: r.prefixes}
}

function userView(u: User): UserView {
  return {name: u.name, roles: u.roles, certificate: u.certificate, tokens: u.tokens.map((t) => ({id: t.id, createdAt: t.createdAt}))}
}
