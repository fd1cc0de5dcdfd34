import {UserError} from '../errors/errors.js'
import {HELD_WARNING_KEY, type MoveWarning} from '../model/move.js'

/**
 * A master that restarts while one of its slots is open (MIGRATING) comes back from its
 * nodes.conf still owning the slot and still MIGRATING, and with whatever data it had
 * persisted. From an RDB snapshot taken before some of the slot's keys were migrated, it holds
 * those keys again, as they were then, while the target (which did not crash) holds them as
 * clients have written them since, through ASK. Migrating the source's copies with REPLACE
 * overwrites those acknowledged writes with older values: one node's crash, which Redis makes
 * lose only that node's unsaved writes, turned by the migration into a loss on a healthy node.
 * Pure; the runner reads the run ids and the keys.
 */

/** sourceRestartedSince tells whether the master whose run_id was `recorded` (undefined: not recorded) runs as another process now (`now`). */
export function sourceRestartedSince(recorded: string | undefined, now: string): boolean {
  return recorded !== undefined && recorded !== now
}

/**
 * staleCopiesRefusal is the error that stops a move whose source restarted since the cursor
 * was written (sourceRestartedSince) and now holds keys of open `slot` the target holds too
 * (`both`): the source's copies may be the snapshot's older ones, so nothing of the slot is
 * migrated until the operator decides. Undefined when `both` is empty: the source's keys are
 * then ones it had not migrated (or, without persistence, it holds none: Redis's own loss).
 */
export function staleCopiesRefusal(input: {move: string; slot: number; source: {node: string; address: string}; target: {node: string}; both: readonly string[]}): UserError | undefined {
  const {both, source, target, slot} = input
  if (both.length === 0) return undefined
  const shown = both.slice(0, 10).join(', ') + (both.length > 10 ? ` and ${both.length - 10} more` : '')
  return new UserError(
    'PRECONDITION',
    `move ${input.move}: ${source.node} restarted while slot ${slot} was open and holds ${both.length} key(s) ${target.node} holds too (${shown}): its copies may come from a snapshot older than the migration, and migrating them would overwrite later acknowledged writes on ${target.node}; nothing of the slot was migrated`,
    `keep ${target.node}'s copies: DEL each listed key on ${source.address}, then \`shardctl apply --resume\`; or, if ${source.node}'s copies are the newer, \`shardctl redis fix --yes --replace\` (\`redis fix --json\` lists them in keysOnBothSides)`,
  )
}

/** heldKey (`held:<source node>:<slot>`) is the key of the warning that holds open `slot` of a move whose source is `node` (uncheckedHold). */
export function heldKey(node: string, slot: number): string {
  return `${HELD_WARNING_KEY}${node}:${slot}`
}

/**
 * uncheckedHold decides open `slot` of a move resumed from a record without the run_id of the
 * side its slots leave, whose restart since could not be judged either (moveSideRestart.ts
 * unrecordedSides' `unchecked`: no copy start recorded, or a start before the copy's that only
 * two executors' clocks tell apart). A key both sides hold (`both`) is then one of two things
 * nothing here tells apart: a copy a timed-out MIGRATE left on the target, the source's being
 * the newer (clients kept writing it there); or, had the source restarted from a snapshot older
 * than the migration, the snapshot's old copy, the target's being the newer (written through
 * ASK). MIGRATE REPLACE is right for the first and loses acknowledged writes in the second;
 * keeping the target's copy, the other way round. So neither: the slot is held (nothing of it
 * migrated) with a warning that reports no loss (nothing was lost yet) and names the keys and
 * both ways out, until the operator, having checked, either deletes the source's copies or
 * acknowledges the warning (`moves ack`), which lets the next run finish the slot with REPLACE.
 * Returns `go` when nothing is on both sides or the warning of this slot is acknowledged
 * (`acknowledged`), else `hold` with the warning to record and the error that stops the run.
 */
export function uncheckedHold(input: {move: string; slot: number; source: {node: string; address: string}; target: {node: string}; both: readonly string[]; acknowledged: boolean; at: string}): {kind: 'go'} | {kind: 'hold'; warning: MoveWarning; error: UserError} {
  const {both, source, target, slot, move} = input
  if (both.length === 0 || input.acknowledged) return {kind: 'go'}
  const shown = both.slice(0, 10).join(', ') + (both.length > 10 ? ` and ${both.length - 10} more` : '')
  const what = `move ${move}: slot ${slot} is held open: ${source.node} (its source, ${source.address}) and ${target.node} both hold ${both.length} key(s) of it (${shown}), and whether ${source.node} restarted from an older snapshot while the move ran cannot be told (a record written before shardctl kept its run_id): the target's copies may be the newer (written through ASK after a restart) or the source's (after a timed-out MIGRATE), so none was migrated over the other`
  const ways = `keep ${target.node}'s copies: DEL each listed key on ${source.address}, then \`shardctl apply --resume\`; keep ${source.node}'s: \`shardctl moves ack ${move}\`, then \`shardctl apply --resume\` migrates them with REPLACE`
  const warning: MoveWarning = {key: heldKey(source.node, slot), at: input.at, text: `${what}. Nothing is lost yet; ${ways}`, mayHaveLostData: false, node: source.node}
  return {kind: 'hold', warning, error: new UserError('PRECONDITION', `${what}; nothing of the slot was migrated`, ways)}
}
