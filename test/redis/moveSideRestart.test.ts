import {describe, expect, it} from 'vitest'
import {applyOutcome} from '../../src/cli/runOutcome.js'
import {withWarnings} from '../../src/model/move.js'
import {type RedisMoveCursor} from '../../src/redis/moveCursor.js'
import {parsePersistence, restartedSides, restartWarning, slotsHeld} from '../../src/redis/moveSideRestart.js'

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

describe('slotsHeld', () => {
  it('names the slots moved to the target (with the open one) and those left on the source', () => {
    expect(slotsHeld(fwd(), 'target', 100, 228)).toBe('slots 100…105')
    expect(slotsHeld(fwd({open: false}), 'target', 100, 228)).toBe('slots 100…104')
    expect(slotsHeld(fwd({next: 100, open: false}), 'target', 100, 228)).toBeNull()
    expect(slotsHeld(fwd({next: 100}), 'target', 100, 228)).toBe('slot 100')
    expect(slotsHeld(fwd(), 'source', 100, 228)).toBe('slots 105…227')
    expect(slotsHeld({dir: 'back', next: 103, open: true}, 'source', 100, 228)).toBe('slots 103…227')
  })
})

describe('restartWarning', () => {
  const side = {...target, before: 'dst-run-1'}
  it('Given a restarted target without appendonly, Then data may be lost and the slots it held are named', () => {
    const w = restartWarning({move: 'm1', side, persistence: {aof: false, keysLoaded: 0}, cursor: fwd(), first: 100, end: 228, other: source, at: 't'})
    expect(w.mayHaveLostData).toBe(true)
    expect(w.key).toBe('restart:bbbb:dst-run-2')
    expect(w.text).toMatch(/^move m1: bbbb \(its target, 127\.0\.0\.1:7001\) restarted while the move ran \(run_id dst-run- -> dst-run-, 0 key\(s\) loaded\) without appendonly: .*the keys of slots 100…105 it held .* are lost.*keys still on aaaa/)
  })
  it('Given appendonly, Then nothing acknowledged is lost to a process restart', () => {
    const w = restartWarning({move: 'm1', side, persistence: {aof: true, keysLoaded: null}, cursor: fwd(), first: 100, end: 228, other: source, at: 't'})
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
})
