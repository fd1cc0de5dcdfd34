import {type z} from 'zod'
import {UserError} from '../errors/errors.js'
import {formatZodIssue} from '../model/zodIssues.js'
import {type StoredValue, type Typed} from './store.js'

/**
 * decodeStored parses and validates a stored JSON value. Throws UserError(CORRUPT_VALUE)
 * naming the key and the first failing field.
 */
export function decodeStored<S extends z.ZodType>(kv: StoredValue, schema: S): Typed<z.output<S>> {
  let json: unknown
  try {
    json = JSON.parse(kv.value)
  } catch {
    throw new UserError('CORRUPT_VALUE', `etcd key ${kv.key} holds invalid JSON (${JSON.stringify(kv.value.slice(0, 40))})`, `inspect it with \`etcdctl get ${kv.key}\`; rewrite it or delete it`)
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) throw new UserError('CORRUPT_VALUE', `etcd key ${kv.key} is invalid: ${formatZodIssue(parsed.error)}`, invalidHint(kv.key, parsed.error))
  return {...kv, value: parsed.data}
}

/**
 * invalidHint tells the operator what to do about a value that failed validation. A value
 * outside a closed set (a move phase, a replica role) is most often one a newer shardctl
 * wrote during a rolling upgrade, not damage: this build refuses it on purpose (an older
 * executor must not act on a phase whose rules it does not know), and the fix is to run the
 * newer build here, not to rewrite the key.
 */
export function invalidHint(key: string, error: z.ZodError): string {
  const inspect = `inspect it with \`etcdctl get ${key}\``
  if (error.issues[0]?.code === 'invalid_value') return `a newer shardctl may have written it (a value this build does not know): run the same shardctl version everywhere; otherwise ${inspect}; rewrite it or delete it`
  return `${inspect}; rewrite it or delete it`
}
