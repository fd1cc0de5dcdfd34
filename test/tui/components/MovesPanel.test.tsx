import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {MovesPanel} from '../../../src/tui/components/MovesPanel.js'
import {type MoveRowView} from '../../../src/tui/topView.js'
import {lines} from './frame.js'

const move = (i: number, patch: Partial<MoveRowView> = {}): MoveRowView => ({id: `m${i}`, shard: i, from: 'n1', to: 'n2', phase: 'copying', terminal: false, fraction: 0.1, bytes: 0, dataRateBytesPerSec: 0, etaSeconds: null, reason: null, cancelRequested: false, stalled: false, selected: false, warning: null, ...patch})

describe('MovesPanel', () => {
  it('Given no moves, When rendered, Then it says the cluster is not being rebalanced', () => {
    const {lastFrame} = render(<MovesPanel moves={[]} width={80} maxRows={3} />)
    expect(lines(lastFrame())).toEqual(['MOVES 0 running, 0 finished', 'no moves — the cluster is not being rebalanced'])
  })

  it('Given more moves than rows and the last selected, When rendered, Then the window scrolls to show it', () => {
    const moves = [move(1), move(2), move(3), move(4, {selected: true})]
    const out = lines(render(<MovesPanel moves={moves} width={80} maxRows={2} />).lastFrame())
    expect(out[0]).toBe('MOVES 4 running, 0 finished · showing 3-4 of 4')
    expect(out[2]).toMatch(/^▶ +4 /)
  })

  it('Given aborted moves, When rendered, Then the title counts them', () => {
    const out = lines(render(<MovesPanel moves={[move(1, {phase: 'aborted', terminal: true, reason: 'cancelled'})]} width={80} maxRows={2} />).lastFrame())
    expect(out[0]).toBe('MOVES 0 running, 1 finished (1 aborted/failed)')
  })
})
