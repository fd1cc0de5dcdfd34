import {describe, expect, it} from 'vitest'
import {announceReady, parseReadyLine, readyAddress, readyLine} from '../../src/daemon/readyLine.js'

describe('readyLine', () => {
  const r = {role: 'node' as const, id: 'n1', cluster: 'c1', address: '127.0.0.1:40001'}

  it('Given a node serving, When it prints its ready line, Then the text names id, cluster and address, and the --json form is one JSON object with type ready', () => {
    expect(readyLine(r, false)).toBe('node n1 serving cluster c1 on 127.0.0.1:40001')
    expect(JSON.parse(readyLine(r, true))).toEqual({type: 'ready', role: 'node', id: 'n1', cluster: 'c1', address: '127.0.0.1:40001'})
    expect(readyLine(r, true)).not.toContain('\n')
  })

  it('Given either form, When parsed, Then it reads back; a log line, a result line or another role does not', () => {
    expect(parseReadyLine(readyLine(r, false))).toEqual(r)
    expect(parseReadyLine(readyLine(r, true))).toEqual(r)
    expect(parseReadyLine('{"time":"x","level":"info","msg":"serving","node":"n1"}')).toBeUndefined()
    expect(parseReadyLine('{"type":"result","node":"n1"}')).toBeUndefined()
    expect(parseReadyLine('{"type":"ready","role":"node","id":"n1"}')).toBeUndefined()
    expect(parseReadyLine('{not json')).toBeUndefined()
  })

  it('Given a child\'s output with logs mixed in, When the harness or the demo looks for its ready line, Then only a complete line of that role and id counts', () => {
    const router = readyLine({role: 'router', id: 'n1', cluster: 'c1', address: '127.0.0.1:1'}, false)
    const other = readyLine({...r, id: 'n2', address: '127.0.0.1:2'}, false)
    const out = `{"level":"info","msg":"start"}\n${router}\n${other}\n${readyLine(r, true)}\n`
    expect(readyAddress(out, 'node', 'n1')).toBe('127.0.0.1:40001')
    expect(readyAddress(out, 'router', 'n1')).toBe('127.0.0.1:1')
    expect(readyAddress(out, 'node', 'n3')).toBeUndefined()
    // A line still being written (no newline yet) is not read: its port could be cut short.
    expect(readyAddress('node n1 serving cluster c1 on 127.0.0.1:4', 'node', 'n1')).toBeUndefined()
  })

  it('Given a daemon serving, When it announces, Then it writes its ready line in the form asked for, once, ending in a newline', () => {
    for (const json of [false, true]) {
      const out: string[] = []
      announceReady(r, json, (line) => out.push(line))
      expect(out).toEqual([`${readyLine(r, json)}\n`])
      expect(readyAddress(out.join(''), 'node', 'n1')).toBe('127.0.0.1:40001')
    }
  })
})
