import {readFileSync} from 'node:fs'
import {UserError} from '../errors/errors.js'
import {type Plan, PlanSchema} from '../model/plan.js'
import {formatZodIssue} from '../model/zodIssues.js'

/** readPlanForApply reads and validates a plan file. Throws UserError(BAD_INPUT) naming the file and the field path. */
export function readPlanForApply(path: string): Plan {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UserError('BAD_INPUT', `cannot read plan file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'check the path; plans are written to plans/ by `shardctl plan`')
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new UserError('BAD_INPUT', `plan file ${path} is not valid JSON: ${(err as Error).message}`, 'recompute it with `shardctl plan`')
  }
  const parsed = PlanSchema.safeParse(json)
  if (!parsed.success) throw new UserError('BAD_INPUT', `plan file ${path} is invalid: ${formatZodIssue(parsed.error)}`, 'recompute it with `shardctl plan`; never edit plan files by hand')
  return parsed.data
}
