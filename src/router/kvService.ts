import {getMeta} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError} from '../errors/errors.js'
import {KV_KEY_RULE, kvKeyProblem} from '../model/kvKey.js'
import {RouterClient, type RouterCredentials} from './routerClient.js'
import {listRouters} from './routerRegistration.js'

/** RouterTarget says how to find a router: an explicit `host:port`, or any live one registered in etcd. */
export interface RouterTarget {
  router?: string
  /** services connects to etcd; only called when no router address was given. */
  services: () => Promise<ServiceContext>
  /** credentials for a router with TLS or authentication on. */
  credentials?: RouterCredentials
}

/**
 * resolveRouter returns the router address: `target.router` when given, else the first
 * live router registered under `routers/` (leased, so it was up within its TTL). Throws
 * UserError(NOT_FOUND) when none is registered.
 */
export async function resolveRouter(target: RouterTarget): Promise<string> {
  if (target.router) return target.router
  const ctx = await target.services()
  // A mistyped --cluster has no routers either: say the cluster is missing, not "start a router".
  await getMeta(ctx)
  const routers = await listRouters(ctx)
  const first = routers[0]
  if (!first) throw new UserError('NOT_FOUND', 'no router is registered in etcd for this cluster', 'start one with `shardctl router serve`, or pass --router host:port')
  return first.address
}

/**
 * requireKey refuses an empty or oversized key before anything is sent: the router would refuse it too,
 * but in its HTTP terms ("use /kv/{url-encoded key}"), which tell a CLI user nothing.
 */
function requireKey(key: string): void {
  const problem = kvKeyProblem(key)
  if (problem) throw new UserError('BAD_INPUT', `${problem}; nothing was sent to the router`, KV_KEY_RULE)
}

/** KvGetOutput is `kv get`'s result (its --json output): the value as UTF-8 when it is valid UTF-8, always as base64. */
export interface KvGetOutput {
  key: string
  router: string
  version: string
  value: string | null
  valueBase64: string
  bytes: number
}

/** kvGet reads `key` through a router. Throws UserError(NOT_FOUND) when the key is absent or deleted, and RouterClient's errors. */
export async function kvGet(target: RouterTarget, key: string): Promise<{output: KvGetOutput; raw: Buffer}> {
  requireKey(key)
  const address = await resolveRouter(target)
  const client = new RouterClient(address, undefined, undefined, target.credentials)
  try {
    const r = await client.get(key)
    if (!r.found) throw new UserError('NOT_FOUND', `key "${key}" not found${r.version ? ` (deleted at ${r.version})` : ''}`, 'check the key (keys are exact bytes, case-sensitive), or write it with `shardctl kv put`')
    const utf8 = r.value.toString('utf8')
    const valid = Buffer.from(utf8, 'utf8').equals(r.value)
    return {output: {key, router: address, version: r.version, value: valid ? utf8 : null, valueBase64: r.value.toString('base64'), bytes: r.value.length}, raw: r.value}
  } finally {
    await client.close()
  }
}

/** KvWriteOutput is `kv put` / `kv del`'s result: the version the write was stored at. */
export interface KvWriteOutput {
  key: string
  router: string
  version: string
  /** deleted: the write was a delete (a tombstone). */
  deleted: boolean
  bytes: number
  /** removedValue (deletes only): whether the key held a value the delete removed; null when the router could not tell. */
  removedValue?: boolean | null
}

/** deleteLine says what `kv del` did: removed a value, found none, or (when the replicas could not tell) only that the tombstone was written. */
export function deleteLine(out: KvWriteOutput): string {
  if (out.removedValue === false) return `${out.key} was not there (absent or already deleted); tombstone written at version ${out.version}`
  if (out.removedValue === null || out.removedValue === undefined) return `deleted ${out.key} at version ${out.version} (the replicas could not tell whether it held a value)`
  return `deleted ${out.key} at version ${out.version}`
}

/** kvPut stores `value` under `key` through a router. Throws RouterClient's errors (QUORUM_FAILED, TOO_LARGE, ...). */
export async function kvPut(target: RouterTarget, key: string, value: Buffer): Promise<KvWriteOutput> {
  requireKey(key)
  const address = await resolveRouter(target)
  const client = new RouterClient(address, undefined, undefined, target.credentials)
  try {
    const {version} = await client.put(key, value)
    return {key, router: address, version, deleted: false, bytes: value.length}
  } finally {
    await client.close()
  }
}

/** kvDel deletes `key` through a router (a tombstone; deleting an absent key also succeeds, with `removedValue` false). */
export async function kvDel(target: RouterTarget, key: string): Promise<KvWriteOutput> {
  requireKey(key)
  const address = await resolveRouter(target)
  const client = new RouterClient(address, undefined, undefined, target.credentials)
  try {
    const {version, removedValue} = await client.del(key)
    return {key, router: address, version, deleted: true, bytes: 0, removedValue: removedValue ?? null}
  } finally {
    await client.close()
  }
}
