import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {Footer} from '../../../src/tui/components/Footer.js'
import {type MoveRowView} from '../../../src/tui/topView.js'
import {lines} from './frame.js'

describe('Footer', () => {
  it('Given 80 columns, When rendered, Then every key is listed', () => {
    expect(lines(render(<Footer confirm={null} paused={false} width={80} />).lastFrame())[0]).toBe(' p pause · +/- throttle · ↑/↓ select move · c cancel · ? help · q quit')
  })

  it('Given paused moves, When rendered, Then p offers resume', () => {
    expect(lines(render(<Footer confirm={null} paused width={80} />).lastFrame())[0]).toContain('p resume')
  })

  it('Given a cancel to confirm, When rendered, Then the footer asks y/N about that move', () => {
    const m = {shard: 7, from: 'n1', to: 'n4'} as MoveRowView
    expect(lines(render(<Footer confirm={m} paused={false} width={120} />).lastFrame())[0]).toBe('Cancel move of shard 7 n1 → n4? It aborts back to the old replicas. [y/N]')
  })
})
