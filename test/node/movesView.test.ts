import {describe, expect, it} from 'vitest'
import {type MoveSide} from '../../src/node/moveCopyHolds.js'
import {type MovesRead, MovesView} from '../../src/node/movesView.js'

/** fakeEtcd: a moves read served at `revision`, counted; `fail` makes the next read throw. */
function fakeEtcd() {
  const e = {revision: 10n, moves: [] as MoveSide[], reads: 0, fail: false, clock: 0}
  const view = new MovesView({
    read: async (): Promise<MovesRead> => {
      e.reads++
      if (e.fail) {
        e.fail = false
        throw new Error('etcd unreachable')
      }
      return {moves: [...e.moves], revision: e.revision}
    },
    now: () => e.clock,
    maxAgeMs: 2000,
  })
  return {e, view}
}

const m1: MoveSide = {id: 'm1', shard: 0, from: 'n1', to: 'n2', phase: 'aborting'}

describe('MovesView (one view of the move records per node process)', () => {
  it('gives every reader one read while it is at the revision the reader judges or later and younger than the bound', async () => {
    const {e, view} = fakeEtcd()
    e.moves = [m1]
    expect(await view.moves(10n)).toEqual([m1])
    e.clock = 1500
    expect(await view.move('m1', 7n)).toEqual(m1)
    expect(await view.moves(10n)).toEqual([m1])
    expect(e.reads).toBe(1)
  })

  it('reads anew for a reader judging a newer shard state: a move phase committed with that shard change is never missed', async () => {
    const {e, view} = fakeEtcd()
    e.moves = [m1]
    await view.moves(10n)
    e.revision = 12n
    e.moves = [{...m1, phase: 'aborted'}]
    expect((await view.move('m1', 12n))?.phase).toBe('aborted')
    expect(e.reads).toBe(2)
  })

  it('reads anew once its read is older than the bound (or than the bound the reader asks), so a move written without a shard change is seen within it', async () => {
    const {e, view} = fakeEtcd()
    await view.moves(10n)
    e.moves = [m1]
    e.clock = 2001
    expect(await view.moves(10n)).toEqual([m1])
    e.clock = 2500
    expect(await view.moves(10n, 400)).toEqual([m1])
    expect(e.reads).toBe(3)
  })

  it('shares one read among readers that ask while it runs, and keeps no failed read (the next reader reads again)', async () => {
    const {e, view} = fakeEtcd()
    e.moves = [m1]
    const both = await Promise.all([view.moves(10n), view.moves(10n), view.move('m1', 10n)])
    expect(both).toEqual([[m1], [m1], m1])
    expect(e.reads).toBe(1)
    e.clock = 5000
    e.fail = true
    await expect(view.moves(10n)).rejects.toThrow('etcd unreachable')
    expect(await view.moves(10n)).toEqual([m1])
    expect(e.reads).toBe(3)
  })
})
