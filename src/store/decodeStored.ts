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
  if (!parsed.success) {
    throw new UserError('CORRUPT_VALUE', `etcd key ${kv.key} is invalid: ${formatZodIssue(parsed.error)}`, `inspect it with \`etcdctl get ${kv.key}\`; rewrite it or delete it`)
  }
  return {...kv, value: parsed.data}
}
