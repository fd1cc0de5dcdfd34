import {type ServiceContext} from '../cluster/serviceContext.js'
import {type MoveSide, MoveSideSchema} from './moveCopyHolds.js'

/** MovesRead is one linearizable read of every `moves/<id>` record (MoveSideSchema) and the etcd revision it was served at. */
export interface MovesRead {
  moves: readonly MoveSide[]
  revision: bigint
}

/** MovesViewDeps: the read (a list of the moves prefix), the clock (ms; only differences are used) and the staleness bound. */
export interface MovesViewDeps {
  read: () => Promise<MovesRead>
  now: () => number
  /** maxAgeMs bounds how long ago the read a reader is given may have started (MOVES_VIEW_MAX_AGE_MS in a node). */
  maxAgeMs: number
}

/** MOVES_VIEW_MAX_AGE_MS is a node's staleness bound for its moves view: the longest a move written without a shard-map change may go unseen. */
export const MOVES_VIEW_MAX_AGE_MS = 2_000

/**
 * MovesView is a node process's one view of the `moves/` records, shared by the three readers that
 * used to list or get them each on its own schedule: the orphan sweep (once per pass that finds
 * data of a range the node holds no role for), repair's purge hold (moveCopyHolds.ts
 * copyKeptOutside, once per shard about to purge) and the reads of a copy a move keeps here
 * (nodeHttpApi.ts readFence, once per request naming a move). Each asks with the etcd revision of
 * the shard state it judges (`atLeast`), and gets a read that started at most `maxAgeMs` ago at a
 * revision no lower than that, reading anew (one read shared by every reader waiting) otherwise.
 *
 * Why that is as safe as each reader's own read: a move keeps a node's data outside the shard map
 * only after it took the node's role away, and the executor writes the move record in the same
 * transaction as every shard change it makes (src/executor/moveStore.ts commitMoveTransition), so a
 * view at a revision no lower than the shard state the reader judges holds that move in the phase
 * that change left it in, or a later one. What a view may miss are moves written since without a
 * shard-map change (a move just recorded, a step that leaves the map as it is), for at most
 * `maxAgeMs`: such a move has put no data of that shard state on the node (a node is sent a
 * shard's data only with a role, which changes the map). A read that fails is not kept: the next
 * reader reads again (and each caller fails safe on the error as before).
 */
export class MovesView {
  private last?: {read: MovesRead; startedAt: number}
  private inFlight?: {read: Promise<MovesRead>; startedAt: number}

  constructor(private readonly deps: MovesViewDeps) {}

  /**
   * moves returns every move record, from a read at etcd revision `atLeast` or later that started at
   * most `maxAgeMs` (default: the view's bound) ago. Throws what the read throws.
   */
  async moves(atLeast: bigint, maxAgeMs = this.deps.maxAgeMs): Promise<readonly MoveSide[]> {
    const asked = this.deps.now()
    const fits = (read: MovesRead, startedAt: number) => read.revision >= atLeast && asked - startedAt <= maxAgeMs
    if (this.last && fits(this.last.read, this.last.startedAt)) return this.last.read.moves
    if (this.inFlight) {
      const {read, startedAt} = this.inFlight
      const r = await read
      if (fits(r, startedAt)) return r.moves
    }
    return (await this.readNow()).moves
  }

  /** move returns move `id`'s record as {@link moves} would hold it, or undefined when there is none. */
  async move(id: string, atLeast: bigint, maxAgeMs = this.deps.maxAgeMs): Promise<MoveSide | undefined> {
    return (await this.moves(atLeast, maxAgeMs)).find((m) => m.id === id)
  }

  /** readNow starts a read that every reader arriving while it runs may share; kept once it answers, unless a newer one already is. */
  private readNow(): Promise<MovesRead> {
    const startedAt = this.deps.now()
    const read = this.deps.read()
    const flight = {read, startedAt}
    this.inFlight = flight
    const done = () => {
      if (this.inFlight === flight) this.inFlight = undefined
    }
    read.then(
      (r) => {
        done()
        if (!this.last || this.last.startedAt <= startedAt) this.last = {read: r, startedAt}
      },
      done,
    )
    return read
  }
}

/** readMoves lists every `moves/<id>` record (linearizable) with the revision it was read at; throws the store's UserErrors (CORRUPT_VALUE for a record that is not one). */
export async function readMoves(ctx: ServiceContext): Promise<MovesRead> {
  const {items, revision} = await ctx.store.listTyped(ctx.keys.movesPrefix, MoveSideSchema)
  return {moves: items.map((i) => i.value), revision}
}
