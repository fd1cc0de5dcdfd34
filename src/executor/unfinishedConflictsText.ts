import {conflictsVerdict, type MoveConflict} from './unfinishedConflicts.js'

/** CONFLICT_PAIRS_SHOWN is how many conflicting pairs a human rendering lists before counting the rest (`--json` lists all). */
export const CONFLICT_PAIRS_SHOWN = 10

/** conflictPairText is one conflicting pair as words: `action 3 (shard 5 n1 -> n3) and move a-0002 (shard 2 n2 -> n3, pending) both change node n3`. */
export function conflictPairText(c: MoveConflict, code: (s: string) => string = (s) => s): string {
  const o = c.other
  return `action ${c.action + 1} (shard ${c.shard} ${code(c.from)} -> ${code(c.to)}) and move ${code(o.id)} (shard ${o.shard} ${code(o.from)} -> ${code(o.to)}, ${o.phase}) both change node ${code(c.node)}`
}

/** headline says how much is in the way: how many of the plan's actions, how many moves of which plans. */
function headline(conflicts: readonly MoveConflict[], code: (s: string) => string): string {
  const actions = new Set(conflicts.map((c) => c.action)).size
  const moves = new Set(conflicts.map((c) => c.other.id)).size
  const plans = [...new Set(conflicts.map((c) => c.other.plan))].map(code).join(', ')
  return `${actions} of its action(s) change nodes that ${moves} unfinished move(s) of plan ${plans} also change; those moves would still run after this plan, on load it did not count`
}

/**
 * conflictsTextLines (pure) renders `conflicts` for `renderPlanText`'s header: nothing when
 * there are none, else a `conflicts` line saying `apply` and `plan verify` will refuse the
 * plan (exit 7), the first {@link CONFLICT_PAIRS_SHOWN} pairs, and the way out.
 */
export function conflictsTextLines(planId: string, conflicts: readonly MoveConflict[]): string[] {
  const verdict = conflictsVerdict(planId, conflicts)
  if (!verdict) return []
  const out = [`conflicts  \`apply\` and \`plan verify\` will refuse this plan (exit 7): ${headline(conflicts, (s) => s)}`]
  for (const c of conflicts.slice(0, CONFLICT_PAIRS_SHOWN)) out.push(`             ${conflictPairText(c)}`)
  if (conflicts.length > CONFLICT_PAIRS_SHOWN) out.push(`             ... ${conflicts.length - CONFLICT_PAIRS_SHOWN} more pair(s) (--json lists all)`)
  out.push(`           way out: ${verdict.hint}`)
  return out
}

/**
 * conflictsMarkdown (pure) renders `conflicts` as a quoted block for `renderPlanMarkdown`
 * (the PR comment), right under its verdict: nothing when there are none.
 */
export function conflictsMarkdown(planId: string, conflicts: readonly MoveConflict[]): string[] {
  const verdict = conflictsVerdict(planId, conflicts)
  if (!verdict) return []
  const code = (s: string) => `\`${s}\``
  const out = [`> **\`shardctl apply\` will refuse this plan (exit 7): it conflicts with other plans' unfinished moves.** ${headline(conflicts, code)}.`, '>']
  for (const c of conflicts.slice(0, CONFLICT_PAIRS_SHOWN)) out.push(`> - ${conflictPairText(c, code)}`)
  if (conflicts.length > CONFLICT_PAIRS_SHOWN) out.push(`> - ... ${conflicts.length - CONFLICT_PAIRS_SHOWN} more pair(s) (\`shardctl plan --json\` lists all)`)
  out.push('>', `> Way out: ${verdict.hint}.`)
  return out
}

/** conflictsWarning is the one stderr line `plan` (without --check) prints for `conflicts`, or null when there are none. */
export function conflictsWarning(planId: string, conflicts: readonly MoveConflict[]): string | null {
  const verdict = conflictsVerdict(planId, conflicts)
  return verdict ? `Warning: ${verdict.message}; \`apply\` will refuse it (exit 7) — ${verdict.hint}` : null
}
