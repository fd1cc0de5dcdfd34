import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {HelpPanel} from '../../../src/tui/components/HelpPanel.js'
import {lines} from './frame.js'

describe('HelpPanel', () => {
  it('Given enough rows, When rendered, Then every key is explained', () => {
    const out = lines(render(<HelpPanel width={100} maxRows={12} />).lastFrame())
    expect(out[0]).toBe('HELP')
    for (const k of ['p ', '+ / -', '↑ / ↓', 'c ', '? ', 'q ']) expect(out.some((l) => l.startsWith(k))).toBe(true)
  })

  it('Given few rows, When rendered, Then it stays within them', () => {
    expect(lines(render(<HelpPanel width={100} maxRows={3} />).lastFrame())).toHaveLength(3)
  })
})
