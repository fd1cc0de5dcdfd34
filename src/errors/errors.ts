import {type ErrorCode} from './codes.js'

/**
 * UserError is an error the user can fix: it carries a code (which picks the exit code),
 * a one-line message naming what was wrong, and a hint saying how to fix it.
 * Services throw it; only the CLI's top-level handler renders it.
 */
export class UserError extends Error {
  readonly code: ErrorCode
  readonly hint?: string

  constructor(code: ErrorCode, message: string, hint?: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'UserError'
    this.code = code
    this.hint = hint
  }
}

/** BugError marks something that should not happen; rendered with its stack under DEBUG. */
export class BugError extends Error {
  readonly code: ErrorCode = 'INTERNAL'

  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'BugError'
  }
}

/** isUserError narrows an unknown thrown value to a {@link UserError}, optionally of one code. */
export function isUserError(err: unknown, code?: ErrorCode): err is UserError {
  return err instanceof UserError && (code === undefined || err.code === code)
}

/** errorMessage gives a one-line message for any thrown value. */
export function errorMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  return msg.split('\n')[0] ?? msg
}
