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
