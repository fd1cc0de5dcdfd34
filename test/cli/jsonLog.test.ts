import {describe, expect, it} from 'vitest'
import {jsonLog} from '../../src/log/jsonLog.js'

describe('jsonLog', () => {
  it('writes one JSON object per line with time, level and msg first-class, plus base and call fields', () => {
    const lines: string[] = []
    const log = jsonLog({router: 'r1'}, (l) => lines.push(l), () => new Date(Date.UTC(2026, 10, 29, 12, 0, 0)))
    log.info('serving', {address: '127.0.0.1:7000'})
    log.warn('lease lost')
    expect(lines.every((l) => l.endsWith('\n') && l.indexOf('\n') === l.length - 1)).toBe(true)
    expect(JSON.parse(lines[0]!)).toEqual({router: 'r1', address: '127.0.0.1:7000', time: '2026-11-29T12:00:00.000Z', level: 'info', msg: 'serving'})
    expect(JSON.parse(lines[1]!)).toMatchObject({level: 'warn', msg: 'lease lost'})
  })

  it('does not let a field overwrite time, level or msg', () => {
    const lines: string[] = []
    jsonLog({}, (l) => lines.push(l)).error('real', {msg: 'fake', level: 'info', time: 'never'})
    expect(JSON.parse(lines[0]!)).toMatchObject({msg: 'real', level: 'error'})
    expect(JSON.parse(lines[0]!).time).not.toBe('never')
  })
})
