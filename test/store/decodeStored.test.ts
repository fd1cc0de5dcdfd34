import {describe, expect, it} from 'vitest'
import {UserError} from '../../src/errors/errors.js'
import {MoveSchema} from '../../src/model/move.js'
import {decodeStored} from '../../src/store/decodeStored.js'

const kv = (value: string) => ({key: '/shardctl/c/moves/p-0000', value, version: 1n, modRevision: 7n, createRevision: 3n})

function refused(value: string): UserError {
  try {
    decodeStored(kv(value) as never, MoveSchema)
  } catch (err) {
    if (err instanceof UserError) return err
    throw err
  }
  throw new Error('decodeStored accepted the value')
}

describe('decodeStored', () => {
  const at = '2026-12-03T00:00:00.000Z'
  const progress = {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}
  const valid = {id: 'p-0000', plan: 'p', index: 0, shard: 3, from: 'n1', to: 'n2', baseEpoch: 1, epoch: 2, phase: 'copying', progress, cancelRequested: false, reason: null, attempts: 0, createdAt: at, updatedAt: at, cutoverAt: null, copyStartedAt: null}

  it('accepts a valid record (the fixture the other cases break one field of)', () => {
    expect(decodeStored(kv(JSON.stringify(valid)) as never, MoveSchema).value.phase).toBe('copying')
  })

  it('names a phase this build does not know, and says a newer build may have written it (a rolling upgrade), not that it is damaged beyond repair', () => {
    const err = refused(JSON.stringify({...valid, phase: 'a-phase-from-a-newer-build'}))
    expect(err.code).toBe('CORRUPT_VALUE')
    expect(err.message).toContain('phase')
    expect(err.hint).toMatch(/newer shardctl/)
    expect(err.hint).toContain('etcdctl get /shardctl/c/moves/p-0000')
  })

  it('keeps the plain repair hint for a value that is merely malformed', () => {
    const err = refused(JSON.stringify({...valid, epoch: 'two'}))
    expect(err.hint).not.toMatch(/newer shardctl/)
    expect(err.hint).toContain('rewrite it or delete it')
    expect(refused('{not json').hint).not.toMatch(/newer shardctl/)
  })
})
