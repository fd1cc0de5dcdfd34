import {describe, expect, it} from 'vitest'
import {editDistance, suggestCommand} from '../../src/cli/commandSuggestion.js'

const IDS = ['apply', 'stats', 'node:drain', 'node:list', 'node:serve', 'router:serve', 'moves:list', 'plan', 'plan:show']

describe('suggestCommand', () => {
  it('finds the closest command for a typo in either word', () => {
    expect(suggestCommand('node:dran', IDS)).toBe('node:drain')
    expect(suggestCommand('nod:drain', IDS)).toBe('node:drain')
    expect(suggestCommand('stat', IDS)).toBe('stats')
    expect(suggestCommand('routr:serve', IDS)).toBe('router:serve')
  })

  it('suggests nothing for text that resembles no command', () => {
    expect(suggestCommand('zzzzzzzzzzzz', IDS)).toBeUndefined()
    expect(suggestCommand('kubernetes:deploy', IDS)).toBeUndefined()
    expect(suggestCommand('x', [])).toBeUndefined()
  })
})

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('', 'abc')).toBe(3)
    expect(editDistance('drain', 'dran')).toBe(1)
    expect(editDistance('kitten', 'sitting')).toBe(3)
    expect(editDistance('same', 'same')).toBe(0)
  })
})
