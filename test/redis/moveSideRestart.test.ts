import {describe, expect, it} from 'vitest'
import {applyOutcome} from '../../src/cli/runOutcome.js'
import {lossWarnings, warningNode, withWarnings} from '../../src/model/move.js'
import {type RedisMoveCursor} from '../../src/redis/moveCursor.js'
import {MAX_RANGES_NAMED, parsePersistence, restartedSides, restartWarning, slotList, slotsAtRisk, slotsHeld, uncheckedWarning, unrecordedSides} from '../../src/redis/moveSideRestart.js'

const source = {node: 'aaaa', address: '127.0.0.1:7000', role: 'source' as const, run: 'src-run-2'}
const target = {node: 'bbbb', address: '127.0.0.1:7001', role: 'target' as const, run: 'dst-run-2'}
const fwd = (over: Partial<RedisMoveCursor> = {}): RedisMoveCursor => ({dir: 'fwd', next: 105, open: true, srcRun: 'src-run-2', dstRun: 'dst-run-1', ...over})

describe('restartedSides', () => {
  it('Given a cursor going fwd whose dstRun is not the target\'s run_id, Then the target restarted', () => {
    expect(restartedSides(fwd(), source, target)).toEqual([{...target, before: 'dst-run-1'}])
  })
  it('Given a cursor going back, Then srcRun is the target\'s and dstRun the source\'s', () => {
    const back: RedisMoveCursor = {dir: 'back', next: 103, open: true, srcRun: 'dst-run-1', dstRun: 'src-run-1'}
    expect(restartedSides(back, source, target).map((s) => [s.role, s.before])).toEqual([
      ['source', 'src-run-1'],
      ['target', 'dst-run-1'],
    ])
  })
  it('Given a cursor written before run_ids were recorded, Then nothing is compared', () => {
    expect(restartedSides({dir: 'fwd', next: 100, open: true}, source, target)).toEqual([])
  })
  it('Given the same run_ids, Then no side restarted', () => {
    expect(restartedSides(fwd({dstRun: 'dst-run-2'}), source, target)).toEqual([])
  })
})

describe('unrecordedSides (a record of a build before dstRun)', () => {
  const old = fwd({dstRun: undefined})
  const at = {copyStartedAt: 1_000_000, now: 1_100_000} // the copy began 100 s ago
  it('Given the target started after the copy began by its uptime, Then it restarted while the move ran', () => {
    expect(unrecordedSides(old, source, {...target, uptimeSec: 40}, at)).toEqual({restarted: [{...target, uptimeSec: 40, before: '', startedAfterSec: 60}], unchecked: []})
  })
  it('Given the target started before the copy began, Then nothing is said: it has not restarted since', () => {
    expect(unrecordedSides(old, source, {...target, uptimeSec: 500}, at)).toEqual({restarted: [], unchecked: []})
  })
  it('Given no uptime or no copy start, Then the window is unchecked; a recorded run_id is never judged here', () => {
    expect(unrecordedSides(old, source, target, at).unchecked).toEqual([target])
    expect(unrecordedSides(old, source, {...target, uptimeSec: 40}, {...at, copyStartedAt: null}).unchecked).toHaveLength(1)
    expect(unrecordedSides(fwd(), {...source, uptimeSec: 1}, {...target, uptimeSec: 1}, at)).toEqual({restarted: [], unchecked: []})
  })
  // The copy's start is the clock of the executor that began it; `now` is this executor's, maybe
  // on another host. T is the copy's start by the first; the true time now is T + 100 s.
  const T = 1_000_000
  it('Given this executor\'s clock 120 s behind the one that began the copy and the target restarted 10 s into the copy, Then it is not taken as started before: the window is told, with the gap the clocks would need', () => {
    const skewed = {copyStartedAt: T, now: T + 100_000 - 120_000}
    // Up 90 s (restarted at T + 10 s): by this clock it started 110 s before the copy began.
    const judged = unrecordedSides(old, source, {...target, uptimeSec: 90}, skewed)
    expect(judged.restarted).toEqual([])
    expect(judged.unchecked).toEqual([{...target, uptimeSec: 90, startedBeforeSec: 110}])
    const u = uncheckedWarning({move: 'm1', side: judged.unchecked[0]!, at: 't'})
    expect(u).toMatchObject({mayHaveLostData: false, key: 'unchecked:bbbb:dst-run-2'})
    expect(u.text).toMatch(/by its uptime it started 110 s before the move's copy began, comparing this executor's clock with the one of the executor that began the copy \(maybe another host\): if that clock ran more than 110 s ahead of this one, it restarted while the move ran/)
  })
  it('Given a side started long before the copy by any plausible clock gap (over 5 minutes), Then nothing is said', () => {
    expect(unrecordedSides(old, source, {...target, uptimeSec: 100 + 301}, {copyStartedAt: T, now: T + 100_000})).toEqual({restarted: [], unchecked: []})
    expect(unrecordedSides(old, source, {...target, uptimeSec: 100 + 299}, {copyStartedAt: T, now: T + 100_000}).unchecked).toHaveLength(1)
  })
  it('Given this executor\'s clock ahead, When a side looks started after the copy began, Then the restart warning says which clocks it compared and how far apart they must be for it to be wrong', () => {
    // Up 130 s, so it started 30 s before the copy; this clock 120 s ahead makes it look 90 s after.
    const judged = unrecordedSides(old, source, {...target, uptimeSec: 130}, {copyStartedAt: T, now: T + 100_000 + 120_000})
    expect(judged.restarted).toHaveLength(1)
    const w = restartWarning({move: 'm1', side: judged.restarted[0]!, persistence: {aof: false, keysLoaded: 0}, cursor: old, first: 100, end: 228, view: null, other: source, at: 't'})
    expect(w.text).toMatch(/started 130 s ago, after the move began, by its uptime: the record predates run_id tracking; 90 s after the copy's start by this executor's clock against the one of the executor that began it \(wrong only if those clocks are more than 90 s apart\); run_id now dst-run-/)
  })
  it('words both: a restart found by uptime may have lost data; an unchecked window is told, not counted as a loss', () => {
    const w = restartWarning({move: 'm1', side: {...target, uptimeSec: 40, before: ''}, persistence: {aof: false, keysLoaded: 0}, cursor: old, first: 100, end: 228, view: null, other: source, at: 't'})
    expect(w).toMatchObject({mayHaveLostData: true, key: 'restart:bbbb:dst-run-2'})
    expect(w.text).toMatch(/restarted while the move ran \(started 40 s ago, after the move began, by its uptime: the record predates run_id tracking; run_id now dst-run-, 0 key\(s\) loaded\)/)
    const u = uncheckedWarning({move: 'm1', side: target, at: 't'})
    expect(u).toMatchObject({mayHaveLostData: false, node: 'bbbb', key: 'unchecked:bbbb:dst-run-2'})
    expect(u.text).toMatch(/^move m1: resumed from a record written before shardctl kept the run_id of bbbb \(its target, 127\.0\.0\.1:7001\), so whether it restarted between the move's start and t cannot be told/)
  })
})

describe('slotsHeld', () => {
  it('names the slots moved to the target (with the open one) and those left on the source', () => {
    const held = (...a: Parameters<typeof slotsHeld>) => slotList(slotsHeld(...a))
    expect(held(fwd(), 'target', 100, 228)).toBe('slots 100-105')
    expect(held(fwd({open: false}), 'target', 100, 228)).toBe('slots 100-104')
    expect(held(fwd({next: 100, open: false}), 'target', 100, 228)).toBeNull()
    expect(held(fwd({next: 100}), 'target', 100, 228)).toBe('slot 100')
    expect(held(fwd(), 'source', 100, 228)).toBe('slots 105-227')
    expect(held({dir: 'back', next: 103, open: true}, 'source', 100, 228)).toBe('slots 103-227')
  })
})

describe('slotsAtRisk', () => {
  it('Given the restarted master\'s own view, Then every slot of the move it serves or has open is named, not only those the lagging cursor names', () => {
    // The cursor was written at the first slot of a batch of empty slots (100); the target took 100-160 before it went down.
    const view = {slots: [0, 1, ...Array.from({length: 61}, (_, i) => 100 + i)], marked: [161, 500]}
    expect(slotsAtRisk(fwd({next: 100}), 'target', 100, 228, view)).toEqual(Array.from({length: 62}, (_, i) => 100 + i))
  })
  it('Given the cursor\'s open slot not in the view, Then it is named too; Given no view, Then the cursor\'s slots', () => {
    expect(slotsAtRisk(fwd({next: 105}), 'target', 100, 228, {slots: [100, 101], marked: []})).toEqual([100, 101, 105])
    expect(slotsAtRisk(fwd({next: 102}), 'target', 100, 228, null)).toEqual([100, 101, 102])
  })
})

describe('slotList', () => {
  it('names runs of slots, one slot alone, and none as null', () => {
    expect(slotList([...Array.from({length: 512}, (_, i) => i), 700])).toBe('slots 0-511, 700')
    expect(slotList([7])).toBe('slot 7')
    expect(slotList([])).toBeNull()
  })
  it('Given more runs than it names, Then the text is bounded and says how many more and how many slots', () => {
    const every2nd = Array.from({length: 8192}, (_, i) => 2 * i)
    const text = slotList(every2nd)!
    expect(text).toBe(`slots 0, 2, 4, 6, 8, 10, 12, 14, … and ${8192 - MAX_RANGES_NAMED} more run(s), 8192 slots in all`)
  })
})

describe('restartWarning', () => {
  const side = {...target, before: 'dst-run-1'}
  it('Given a restarted target without appendonly, Then data may be lost and the slots it held are named', () => {
    const w = restartWarning({move: 'm1', side, persistence: {aof: false, keysLoaded: 0}, cursor: fwd(), first: 100, end: 228, view: null, other: source, at: 't'})
    expect(w.mayHaveLostData).toBe(true)
    expect(w.key).toBe('restart:bbbb:dst-run-2')
    expect(w.text).toMatch(/^move m1: bbbb \(its target, 127\.0\.0\.1:7001\) restarted while the move ran \(run_id dst-run- -> dst-run-, 0 key\(s\) loaded\) without appendonly: .*the keys of slots 100-105 it held .* are lost.*keys still on aaaa/)
  })
  it('Given appendonly, Then nothing acknowledged is lost to a process restart', () => {
    const w = restartWarning({move: 'm1', side, persistence: {aof: true, keysLoaded: null}, cursor: fwd(), first: 100, end: 228, view: null, other: source, at: 't'})
    expect(w.mayHaveLostData).toBe(false)
    expect(w.text).toMatch(/runs with appendonly, so it reloaded its log/)
  })
})

describe('parsePersistence', () => {
  it('reads appendonly and the keys loaded; a server that does not say the count gives null', () => {
    expect(parsePersistence('# Persistence\r\nloading:0\r\nrdb_last_load_keys_loaded:12\r\naof_enabled:1\r\n')).toEqual({aof: true, keysLoaded: 12})
    expect(parsePersistence('aof_enabled:0\r\n')).toEqual({aof: false, keysLoaded: null})
  })
})

describe('withWarnings and applyOutcome', () => {
  const w = {key: 'restart:bbbb:r2', at: 't', text: 'lost', mayHaveLostData: true}
  it('adds a warning once per key', () => {
    expect(withWarnings(undefined, [w])).toEqual([w])
    expect(withWarnings([w], [{...w, text: 'again'}])).toEqual([w])
  })
  it('Given a done move warned of possible data loss, Then apply exits POSSIBLE_DATA_LOSS, not success', () => {
    expect(applyOutcome({moves: [{phase: 'done', warnings: [w]}], counts: {done: 1}, stopped: false}).code).toBe('POSSIBLE_DATA_LOSS')
    expect(applyOutcome({moves: [{phase: 'done', warnings: [{...w, mayHaveLostData: false}]}], counts: {done: 1}, stopped: false}).code).toBeNull()
  })

  it('Given the warning acknowledged (`moves ack`), Then it no longer counts: apply exits as the phases say', () => {
    const acked = {...w, acknowledgedAt: 't2'}
    expect(lossWarnings({warnings: [acked, w]})).toEqual([w])
    expect(applyOutcome({moves: [{phase: 'done', warnings: [acked]}], counts: {done: 1}, stopped: false}).code).toBeNull()
  })
  it('names the master of a warning, from its key when written before `node` was kept', () => {
    expect(warningNode({...w, node: 'cccc'})).toBe('cccc')
    expect(warningNode(w)).toBe('bbbb')
    expect(warningNode({...w, key: 'other'})).toBeNull()
  })
})

