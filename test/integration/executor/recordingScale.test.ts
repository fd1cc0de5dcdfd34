import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {makeServiceContext, type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {readRecordings} from '../../../src/executor/moveRecording.js'
import {unrecordedPlans} from '../../../src/executor/moveViews.js'
import {type Move} from '../../../src/model/move.js'
import {moveOf} from '../../executor/fixtures.js'
import {startPrivateEtcd, type PrivateEtcd} from '../../support/privateEtcd.js'
import {StoreSet, uniqueCluster} from '../../support/testStore.js'

/**
 * The lists a killed `apply` leaves under `recording/<plan>/` (moveRecording.ts), at sizes a
 * real plan reaches, read by the code `moves list`, `apply --resume` and the autopilot use.
 * The pages are written straight into a private etcd with the writer's key layout (recording
 * 150k moves through apply would take minutes); the reads are the real ones.
 */
const stores = new StoreSet()
let etcd: PrivateEtcd
let ctx: ServiceContext

beforeAll(async () => {
  // Private: the first case stores ~70 MiB, which the shared etcd's other files need not carry.
  etcd = await startPrivateEtcd()
  const cluster = uniqueCluster('recording-scale')
  ctx = makeServiceContext(stores.open(etcd.endpoint, cluster), {cluster})
}, 60_000)

afterAll(async () => {
  stores.closeAll()
  await etcd?.dispose()
})

function move(plan: string, index: number): Move {
  const at = '2026-12-02T18:00:00.000Z'
  return moveOf({id: `${plan}-${String(index).padStart(4, '0')}`, plan, index, shard: index, from: 'n1', to: 'n2', baseEpoch: 1, epoch: 1, createdAt: at, updatedAt: at})
}

/** writeList writes `plan`'s list of `moves` moves as pages of `perPage` under the keys `keyOf` names, in transactions under 1 MiB and 128 keys. */
async function writeList(plan: string, moves: number, perPage: number, keyOf: (page: number) => string): Promise<number> {
  const pages = Math.ceil(moves / perPage)
  let puts: {key: string; value: string}[] = []
  let bytes = 0
  let written = 0
  for (let p = 0; p < pages; p++) {
    const value = JSON.stringify({plan, page: p, pages, moves: Array.from({length: Math.min(perPage, moves - p * perPage)}, (_, i) => move(plan, p * perPage + i))})
    if (puts.length >= 128 || bytes + value.length > 1024 * 1024) {
      await ctx.store.commit({compares: [], puts})
      puts = []
      bytes = 0
    }
    puts.push({key: keyOf(p), value})
    bytes += value.length
    written += value.length
  }
  await ctx.store.commit({compares: [], puts})
  return written
}

describe('recording lists at scale (real etcd)', {timeout: 300_000}, () => {
  it('reads a 160,000-move list (~70 MiB, over the 64 MiB one response may carry) whole', async () => {
    const plan = 'huge'
    const bytes = await writeList(plan, 160_000, 200, (p) => ctx.keys.recordingPage(plan, p))
    expect(bytes).toBeGreaterThan(64 * 1024 * 1024)
    // What `moves list --plan huge` warns about: every move named, none recorded.
    expect(await unrecordedPlans(ctx, plan)).toEqual([{plan, named: 160_000, recorded: 0, whole: true}])
    await ctx.store.commit({compares: [], deletePrefixes: [ctx.keys.recordingOf(plan)]})
  })

  it('reads a list of more than 9,999 pages whole, in page order', async () => {
    const plan = 'many-pages'
    await writeList(plan, 10_002, 1, (p) => ctx.keys.recordingPage(plan, p))
    // Its keys sort in page order too (page 10000 after 9999, not between 1000 and 1001).
    const keys = (await ctx.store.list(ctx.keys.recordingOf(plan), {pageSize: 5000})).items.map((kv) => kv.key)
    expect(keys.indexOf(ctx.keys.recordingPage(plan, 10_000))).toBe(10_000)
    // A list read as not whole is deleted by the next executor: the unrecorded moves would be dropped.
    expect((await readRecordings(ctx)).find((r) => r.plan === plan)).toEqual({plan, named: 10_002, recorded: 0, whole: true})
    await ctx.store.commit({compares: [], deletePrefixes: [ctx.keys.recordingOf(plan)]})
  })

  it('reads a list an older build wrote with 4-digit page numbers past page 9999 whole', async () => {
    const plan = 'old-layout'
    await writeList(plan, 10_001, 1, (p) => `${ctx.keys.recordingOf(plan)}${String(p).padStart(4, '0')}`)
    expect((await readRecordings(ctx)).find((r) => r.plan === plan)).toEqual({plan, named: 10_001, recorded: 0, whole: true})
    await ctx.store.commit({compares: [], deletePrefixes: [ctx.keys.recordingOf(plan)]})
  })
})
