import {describe, expect, it} from 'vitest'
import {jsonRequested} from '../../src/cli/jsonRequested.js'

describe('jsonRequested (--json where no command parses it: an unknown command)', () => {
  it('is --json anywhere before a `--`, as oclif reads it for a command', () => {
    expect(jsonRequested(['--json'])).toBe(true)
    expect(jsonRequested(['dran', 'n1', '--json', '--yes'])).toBe(true)
    expect(jsonRequested(['--json', '--', 'x'])).toBe(true)
    expect(jsonRequested([])).toBe(false)
    expect(jsonRequested(['--jsonx', '-j'])).toBe(false)
    expect(jsonRequested(['--', '--json'])).toBe(false)
  })
})
