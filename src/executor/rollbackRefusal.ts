import {UserError} from '../errors/errors.js'
import {type Move} from '../model/move.js'

/**
 * rollbackRefusal judges a `moves rollback` of a cut-over move (pure) on what the rollback
 * needs of its source: it re-joins the source to the writes, catches it up from the
 * destination and flips reads back to it, so a source that is down would be waited for, for
 * ever if its machine is gone (a rollback in flight has no way out but the source). Refused
 * (PRECONDITION, exit 1, nothing changed) while the source holds no `alive/<id>` lease
 * (`sourceUp` false), or while it is marked abandoned (`moves abandon-source`): the operator
 * judged it gone for good, and the executor withdraws that mark once it sees it up again,
 * after which a rollback is accepted. Undefined: accept.
 */
export function rollbackRefusal(move: Pick<Move, 'id' | 'from' | 'abandonSourceRequested'>, sourceUp: boolean): UserError | undefined {
  const {id, from} = move
  if (move.abandonSourceRequested !== undefined) {
    return new UserError(
      'PRECONDITION',
      `move ${id}'s source ${from} is marked abandoned (moves abandon-source, at ${move.abandonSourceRequested}): a rollback flips reads back to it; nothing was changed`,
      `let the move finish (\`shardctl moves show ${id}\`); if ${from} is back up, the executor (\`apply --resume\`) withdraws the mark once it sees it, and a rollback is accepted again`,
    )
  }
  if (!sourceUp) {
    return new UserError(
      'PRECONDITION',
      `node ${from}, the source of move ${id}, is down (no alive/${from} lease): a rollback catches it up and flips reads back to it, and would wait for it; nothing was changed`,
      `start ${from} and run this again; if it is gone for good, let the move finish (\`shardctl moves abandon-source ${id} --accept-data-loss\` if it waits for ${from})`,
    )
  }
  return undefined
}
