import {afterEach, describe, expect, it, vi} from 'vitest'
import Apply from '../../commands/apply.js'
import NodeDrain from '../../commands/node/drain.js'

afterEach(() => vi.restoreAllMocks())

/** jsonOutput captures what a command's logJson writes to stdout for `value`. */
function jsonOutput(logJson: (json: unknown) => void, value: unknown): string {
  let out = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk)
    return true
  })
  logJson(value)
  vi.restoreAllMocks()
  return out
}

describe('--json of the commands that stream JSON-lines events', () => {
  const result = {node: 'n4', remaining: 0, result: {counts: {done: 3}, moves: [{id: 'm', phase: 'done'}]}, message: 'node n4 is drained'}
  const error = {error: {code: 'NOT_FOUND', message: 'node "n9" does not exist', hint: 'list nodes', exitCode: 1}}

  for (const [name, command] of [
    ['apply', Apply],
    ['node drain', NodeDrain],
  ] as const) {
    it(`${name} ends with its result or error as one line tagged "type": "result", not a pretty-printed object over many lines`, () => {
      for (const value of [result, error]) {
        const out = jsonOutput((json) => command.prototype.logJson.call({}, json), value)
        expect(out.endsWith('\n')).toBe(true)
        expect(out.trimEnd().split('\n')).toHaveLength(1)
        expect(JSON.parse(out)).toEqual({type: 'result', ...value})
      }
    })
  }
})
