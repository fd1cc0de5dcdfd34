import {conflictPairText, conflictsVerdict, type MoveConflict} from './unfinishedConflicts.js'

/** CONFLICT_PAIRS_SHOWN is how many conflicting pairs a human rendering lists before counting the rest (`--json` lists all). */
export const CONFLICT_PAIRS_SHOWN = 10

/**
 * headline says how much is in the way: how many of the plan's actions, how many moves of which
 * plans; the heals the plan would have skipped (StrandConflict) apart from the node pairs.
 */
function headline(conflicts: readonly MoveConflict[], code: (s: string) => string): string {
  const count = (cs: readonly MoveConflict[]) => ({actions: new Set(cs.map((c) => c.action)).size, moves: new Set(cs.map((c) => c.other.id)).size, plans: [...new Set(cs.map((c) => c.other.plan))].map(code).join(', ')})
  const strands = conflicts.filter((c) => 'strands' in c)
  const pairs = conflicts.filter((c) => !('strands' in c))
  const parts: string[] = []
  if (pairs.length > 0) {
    const n = count(pairs)
    parts.push(`${n.actions} of its action(s) change nodes that ${n.moves} unfinished move(s) of plan ${n.plans} also change; those moves would still run after this plan, on load it did not count`)
  }
  if (strands.length > 0) {
    const n = count(strands)
    parts.push(`${n.actions} of its action(s) would have ${n.moves} unfinished move(s) of plan ${n.plans} skipped, which take their shards off draining nodes: the shards would keep their replicas there`)
  }
  return parts.join('; ')
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
