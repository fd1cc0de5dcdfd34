/** EnvProblem is a refused environment variable: the one-line message (naming it, its value and what it takes) and how to fix it. */
export interface EnvProblem {
  message: string
  fix: string
}

/** WholeNumberVariable is an environment variable that takes a whole number from `min` to `max`, and how to fix a bad value. */
export interface WholeNumberVariable {
  name: string
  min: number
  max: number
  fix: string
}

/**
 * wholeNumberEnvValue (pure) reads `v` from `env`: undefined when it is unset or blank (the
 * caller's default), the number when it is a whole number (digits only: no sign, point,
 * exponent or hex) from v.min to v.max, NaN for anything else. The one parser of the
 * whole-number SHARDCTL_* variables: `Number()` alone takes "", "1e3", "0x10" and " 5 ".
 */
export function wholeNumberEnvValue(env: Record<string, string | undefined>, v: WholeNumberVariable): number | undefined {
  const raw = env[v.name]
  if (raw === undefined || raw.trim() === '') return undefined
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN
  return n >= v.min && n <= v.max ? n : NaN
}

/** wholeNumberEnvProblem (pure) is the refusal of a bad value of `v` in `env` (undefined: unset, blank or fine). */
export function wholeNumberEnvProblem(env: Record<string, string | undefined>, v: WholeNumberVariable): EnvProblem | undefined {
  if (!Number.isNaN(wholeNumberEnvValue(env, v))) return undefined
  return {message: `${v.name}: "${env[v.name]}" is not a whole number from ${v.min} to ${v.max}`, fix: v.fix}
}
