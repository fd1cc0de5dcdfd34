import {UserError} from '../errors/errors.js'

/**
 * A master that gave a slot away and then restarted from a snapshot taken while it still owned
 * it holds the snapshot's keys of the slot again (Redis marks the slot IMPORTING from the new
 * owner when it starts). A move that later brings the slot back to it found those keys already
 * there and, migrating the owner's keys over them with REPLACE, assigned it the slot: keys the
 * owner had deleted since came back, with their old values. No migration of shardctl puts keys
 * on a target before its source marks the slot MIGRATING (IMPORTING, then MIGRATING, then
 * MIGRATE), so keys found there first are not the move's. Pure; the runner counts them.
 */

/**
 * strayKeysRefusal is the error that stops a move before it opens `slot` towards `target` when
 * the target already holds `targetKeys` keys of it while the source, which serves it, is not
 * migrating it; undefined when the target holds none or the source is migrating the slot (a
 * slot of this move left open: its keys on the target are the move's own).
 */
export function strayKeysRefusal(input: {move: string; slot: number; source: {node: string}; target: {node: string; address: string}; targetKeys: number; sourceMigrating: boolean}): UserError | undefined {
  const {slot, source, target} = input
  if (input.targetKeys === 0 || input.sourceMigrating) return undefined
  return new UserError(
    'PRECONDITION',
    `move ${input.move}: ${target.node} holds ${input.targetKeys} key(s) of slot ${slot}, which ${source.node} serves and is not migrating: most likely copies ${target.node} loaded from a snapshot taken while it owned the slot, which moving the slot there would bring back over ${source.node}'s (deleted or rewritten since); nothing of the slot was migrated`,
    `on ${target.address}, DEL each of its keys of slot ${slot} (CLUSTER GETKEYSINSLOT ${slot} 1000; ASKING before each DEL) and run CLUSTER SETSLOT ${slot} STABLE, then \`shardctl apply --resume\``,
  )
}
