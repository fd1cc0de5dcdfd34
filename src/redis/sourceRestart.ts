import {UserError} from '../errors/errors.js'

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
