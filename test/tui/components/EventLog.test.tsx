import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {EventLog} from '../../../src/tui/components/EventLog.js'
import {lines} from './frame.js'

const at = new Date(2026, 10, 29, 9, 5, 7).getTime()

describe('EventLog', () => {
  it('Given more lines than fit, When rendered, Then the newest lines show with local times', () => {
    const log = Array.from({length: 5}, (_, i) => ({at, level: 'info' as const, text: `event ${i}`}))
    expect(lines(render(<EventLog lines={log} maxRows={2} width={80} />).lastFrame())).toEqual(['EVENTS', '09:05:07 event 3', '09:05:07 event 4'])
  })

  it('Given a long line, When rendered narrow, Then it is cut, not wrapped', () => {
    const out = lines(render(<EventLog lines={[{at, level: 'error', text: 'x'.repeat(200)}]} maxRows={3} width={40} />).lastFrame())
    expect(out).toHaveLength(2)
    expect(out[1]!.length).toBeLessThanOrEqual(40)
  })
})
