import {describe, expect, it} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {readTopSnapshot} from '../../src/tui/topSnapshot.js'
import {deriveTopView} from '../../src/tui/topView.js'
import {busyCluster, move, reduce, seeded, T0} from './fixtures.js'

/**
 * `top` shows a move's warnings as `cluster status` does: a warning of possible data loss no
 * operator acknowledged (a redis master restarted without appendonly mid-move) is trouble,
 * whatever the move's phase, with its way out (`moves ack`); the move's row is marked, and a
 * warning that reports no loss (appendonly on) marks the row only.
 */
const LOSS = {key: 'restart:n4:run2', at: '2026-11-29T08:59:00.000Z', text: 'move m0: n4 (its target, 127.0.0.1:7103) restarted while the move ran (run_id a -> b, 0 key(s) loaded) without appendonly: the keys of slots 0-511 it held are lost', mayHaveLostData: true, node: 'n4'}
const SAFE = {key: 'restart:n1:run3', at: '2026-11-29T08:59:30.000Z', text: 'move m1: n1 (its source, 127.0.0.1:7101) restarted while the move ran with appendonly: a process restart lost nothing acknowledged', mayHaveLostData: false, node: 'n1'}

describe('top: move warnings', () => {
  it('Given a done move warned of possible data loss, When derived, Then it is trouble with the way out and its row is marked; once acknowledged it is not', () => {
    const warned = seeded([...busyCluster(), move('m0', {shard: 0, phase: 'done', warnings: [LOSS]})])
    const view = deriveTopView(warned, 1.1)
    expect(view.trouble).toEqual([{loss: true, move: 'm0', shard: 0, phase: 'done', at: LOSS.at, text: LOSS.text, wayOut: 'check the keys it names against your source of truth, then `shardctl moves ack m0`'}])
    expect(view.moves.find((m) => m.id === 'm0')!.warning).toBe('data-loss')
    expect(view.moves.find((m) => m.id === 'm1')!.warning).toBeNull()
    const acked = reduce([{type: 'kv', at: T0 + 1, item: move('m0', {shard: 0, phase: 'done', warnings: [{...LOSS, acknowledgedAt: '2026-11-29T09:00:01.000Z'}]})}], warned)
    expect(deriveTopView(acked, 1.1).trouble).toEqual([])
    expect(deriveTopView(acked, 1.1).moves.find((m) => m.id === 'm0')!.warning).toBe('warned')
  })

  it('Given a warning that reports no loss, When derived, Then the row is marked warned and nothing is trouble', () => {
    const view = deriveTopView(seeded([...busyCluster(), move('m1', {shard: 1, phase: 'copying', warnings: [SAFE]})]), 1.1)
    expect(view.trouble).toEqual([])
    expect(view.moves.find((m) => m.id === 'm1')!.warning).toBe('warned')
  })

  it('Given a warning written to a move while top watches, When reduced, Then the event log says so once, an error for possible loss', () => {
    const s = reduce([
      {type: 'kv', at: T0 + 1, item: move('m1', {shard: 1, phase: 'copying', warnings: [LOSS]})},
      {type: 'kv', at: T0 + 2, item: move('m1', {shard: 1, phase: 'copying', warnings: [LOSS], progress: {bytes: 600 * 1024, keys: 120, totalBytes: 1024 * 1024, rateBytesPerSec: 1, dataRateBytesPerSec: 1, cursor: null, stalled: false}})},
      {type: 'kv', at: T0 + 3, item: move('m1', {shard: 1, phase: 'copying', warnings: [LOSS, SAFE]})},
    ], seeded(busyCluster()))
    const warnings = s.log.filter((l) => l.text.includes('warning'))
    expect(warnings).toEqual([
      {at: T0 + 1, level: 'error', text: `shard 1 n1 → n4: warning: ${LOSS.text} (way out: check the keys it names against your source of truth, then \`shardctl moves ack m1\`)`},
      {at: T0 + 3, level: 'warn', text: `shard 1 n1 → n4: warning: ${SAFE.text}`},
    ])
  })

  it('Given a warned move, When `top --json` reads once, Then its trouble is in it', async () => {
    const ctx = makeServiceContext(new MemoryStore(), {cluster: 'demo'})
    for (const i of [...busyCluster(), move('m0', {shard: 0, phase: 'done', warnings: [LOSS]})]) await ctx.store.put(i.key, i.value!)
    const snap = await readTopSnapshot(ctx, 1.1, T0)
    expect(snap.trouble.map((t) => [t.move, t.wayOut])).toEqual([['m0', 'check the keys it names against your source of truth, then `shardctl moves ack m0`']])
  })

  it('Given warnings that report no loss but wait for a check (a slot held open, a restart window nobody could judge), When derived, Then they are trouble marked not a loss, after the losses, until acknowledged', () => {
    const HELD = {key: 'held:n1:208', at: '2026-11-29T08:58:00.000Z', text: 'move m1: slot 208 is held open: n1 (its source, 127.0.0.1:7101) and n4 both hold 3 key(s) of it', mayHaveLostData: false, node: 'n1'}
    const UNCHECKED = {key: 'unchecked:n4:run9', at: '2026-11-29T08:58:30.000Z', text: 'move m1: resumed from a record written before shardctl kept the run_id of n4', mayHaveLostData: false, node: 'n4'}
    const warned = seeded([...busyCluster(), move('m0', {shard: 0, phase: 'done', warnings: [LOSS]}), move('m1', {shard: 1, phase: 'failed', warnings: [SAFE, HELD, UNCHECKED]})])
    const view = deriveTopView(warned, 1.1)
    const wayOut = 'not a loss: check what it names (its text says what acknowledging does), then `shardctl moves ack m1`'
    expect(view.trouble).toEqual([
      {loss: true, move: 'm0', shard: 0, phase: 'done', at: LOSS.at, text: LOSS.text, wayOut: 'check the keys it names against your source of truth, then `shardctl moves ack m0`'},
      {loss: false, move: 'm1', shard: 1, phase: 'failed', at: HELD.at, text: HELD.text, wayOut},
      {loss: false, move: 'm1', shard: 1, phase: 'failed', at: UNCHECKED.at, text: UNCHECKED.text, wayOut},
    ])
    // Before: only the loss was trouble; the held slot and the unjudged window waited unseen.
    const at = '2026-11-29T09:00:01.000Z'
    const acked = reduce([{type: 'kv', at: T0 + 1, item: move('m1', {shard: 1, phase: 'failed', warnings: [SAFE, {...HELD, acknowledgedAt: at}, {...UNCHECKED, acknowledgedAt: at}]})}], warned)
    expect(deriveTopView(acked, 1.1).trouble.map((t) => [t.move, t.loss])).toEqual([['m0', true]])
  })
})
