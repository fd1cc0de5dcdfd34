import {type ServiceContext} from '../cluster/serviceContext.js'
import {listMoves} from './moveStore.js'
import {executorOf, leftToResume} from './planCancel.js'

/**
 * markedMoveNext says who carries out a cancel or rollback just asked of move `id` (`what`:
 * "the cancel", "the rollback"; `within`: how soon a running executor sees it), as `moves cancel --plan` says it for a plan's moves: the
 * running executor if it runs that move (an `apply --resume` runs every recorded move, an
 * apply of plan R only R's and those it took over), else `apply --resume`, after the running
 * one ends. Before, `moves cancel ID` said "will be cancelled by the executor" and `moves
 * rollback ID` "(run apply --resume if none is running)" while an apply of another plan held
 * the lock, which never looks at the move: the mark waited for a later resume.
 */
export async function markedMoveNext(ctx: ServiceContext, id: string, what: string, within = 'within a second'): Promise<string> {
  const [moves, lock] = await Promise.all([listMoves(ctx), ctx.store.get(ctx.keys.executorLock)])
  const executor = executorOf(lock?.value)
  const marked = moves.filter((m) => m.value.id === id)
  if (executor === null) return `no executor is running: \`shardctl apply --resume\` carries out ${what}`
  const left = leftToResume(marked, moves, executor)
  if (left === null) return `an executor holds the lock (${executor.holder}) without saying which moves it runs: if it does not run this one, \`shardctl apply --resume\` carries out ${what} once it ends`
  const runner = `the running executor (${executor.holder}, ${executor.plan === null ? 'resuming every recorded move' : `applying plan ${executor.plan}`})`
  return left === 0 ? `${runner} carries out ${what} ${within}` : `${runner} does not run this move: once it ends, \`shardctl apply --resume\` carries out ${what}`
}
