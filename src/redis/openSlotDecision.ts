/**
 * decideOpenSlot (pure) chooses how to close a slot left open between `source` (MIGRATING)
 * and `target` (IMPORTING), from where its keys actually are:
 * - keys on the target: `finish` (move what is left on the source to the target, then the
 *   target owns the slot). Writes of new keys may have gone to the target through ASK, so
 *   it may hold the only copy of some; moving back would need ASKING on a non-owner.
 * - keys only on the source, or none anywhere: `rollback` (the source keeps the slot,
 *   marks cleared): nothing moved, nothing is lost, ownership does not change.
 * `preferFinish` (the executor resuming its own forward move) finishes whenever the source
 * still owns the slot or the target already does, so a resumed move makes progress.
 */
export function decideOpenSlot(input: {sourceKeys: number; targetKeys: number; targetOwns: boolean; preferFinish: boolean}): 'finish' | 'rollback' {
  if (input.targetOwns || input.targetKeys > 0 || input.preferFinish) return 'finish'
  return 'rollback'
}
