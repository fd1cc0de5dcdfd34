import {type z} from 'zod'

/**
 * formatZodIssue renders the first issue of a zod error as one line: `path.to.field: message`
 * (or just the message at the root), so bad input errors name the field to fix.
 */
export function formatZodIssue(error: z.ZodError): string {
  const issue = error.issues[0]
  if (!issue) return 'invalid value'
  const path = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('')
  return path ? `${path}: ${issue.message}` : issue.message
}

/**
 * parseStoredJson parses an etcd value as JSON validated by `schema`; on either failure it
 * tells `onInvalid` (key and a one-line reason) and returns undefined, so followers skip a
 * corrupt entry instead of stopping.
 */
export function parseStoredJson<S extends z.ZodType>(key: string, value: string, schema: S, onInvalid?: (key: string, message: string) => void): z.output<S> | undefined {
  const parsed = parseStoredValue(key, value, onInvalid)
  return parsed && validateStored(key, parsed.json, schema, onInvalid)
}

/** parseStoredValue parses an etcd value as JSON (wrapped: `null` is JSON); undefined, after telling `onInvalid`, when it is not. */
export function parseStoredValue(key: string, value: string, onInvalid?: (key: string, message: string) => void): {json: unknown} | undefined {
  try {
    return {json: JSON.parse(value)}
  } catch {
    onInvalid?.(key, 'not JSON')
    return undefined
  }
}

/** validateStored checks parsed JSON against `schema`; undefined, after telling `onInvalid` the first issue, when it fails. */
export function validateStored<S extends z.ZodType>(key: string, json: unknown, schema: S, onInvalid?: (key: string, message: string) => void): z.output<S> | undefined {
  const r = schema.safeParse(json)
  if (!r.success) {
    onInvalid?.(key, formatZodIssue(r.error))
    return undefined
  }
  return r.data
}
