import {describe, expect, it} from 'vitest'
import {jsonLog} from '../../src/log/jsonLog.js'
import {purgesIn} from './purgeLog.js'

/** nodeLog writes anti-entropy lines the way a node does (the real logger), each at its own time. */
function nodeLog(entries: Array<{at: number; purged: number}>): string {
  let out = ''
  let now = 0
  const log = jsonLog({node: 'n1'}, (l) => (out += l), () => new Date(now))
  for (const e of entries) {
    now = e.at
    log.info('anti-entropy', {shards: 3, repaired: 0, purgedTombstones: e.purged})
    log.info('serving', {shards: 3})
  }
  return out
}

describe('purgesIn', () => {
  it('Given a node log from the real logger, When counted since a moment, Then only purges stamped at or after it count as since', () => {
    const t0 = Date.parse('2026-12-01T17:00:00.000Z')
    const logs = nodeLog([
      {at: t0, purged: 5},
      {at: t0 + 1000, purged: 7},
      {at: t0 + 2000, purged: 11},
    ])
    expect(purgesIn(logs, t0 + 1000)).toEqual({total: 23, since: 18})
  })

  it('Given a killed node whose last line is cut off, When counted, Then the partial line is skipped', () => {
    const logs = nodeLog([{at: 0, purged: 4}]) + '{"node":"n2","shards":1,"purgedTombstones":9,"ti'
    expect(purgesIn(logs, 0)).toEqual({total: 4, since: 4})
  })

  it('Given a purge line without a readable time, When counted, Then it throws naming the line (no silent zero)', () => {
    expect(() => purgesIn('{"t":"2026-12-01T17:00:00.000Z","msg":"anti-entropy","purgedTombstones":3}\n', 0)).toThrow(/without a readable time/)
  })
})
