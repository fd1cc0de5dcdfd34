import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {formatEta, MoveRow} from '../../../src/tui/components/MoveRow.js'
import {type MoveRowView} from '../../../src/tui/topView.js'
import {plain} from './frame.js'

const copying: MoveRowView = {id: 'm1', shard: 7, from: 'n1', to: 'n4', phase: 'copying', terminal: false, fraction: 0.5, bytes: 512 * 1024, dataRateBytesPerSec: 256 * 1024, etaSeconds: 2, reason: null, cancelRequested: false, stalled: false, selected: false, warning: null}

describe('MoveRow', () => {
  it('Given a copying move, When rendered, Then it shows shard, route, phase, a progress bar, percent, rate and ETA', () => {
    const {lastFrame} = render(<MoveRow move={copying} width={80} />)
    expect(plain(lastFrame())).toMatch(/^ {5}7 {2}n1 → n4 +copying +█+·+ +50% +256 KiB\/s ETA 2s/)
  })

  it('Given a selected move, When rendered, Then it is marked', () => {
    const {lastFrame} = render(<MoveRow move={{...copying, selected: true}} width={80} />)
    expect(plain(lastFrame())).toMatch(/^▶/)
  })

  it('Given a failed move, When rendered, Then it shows the reason instead of a bar', () => {
    const {lastFrame} = render(<MoveRow move={{...copying, phase: 'failed', terminal: true, reason: 'n4 unreachable'}} width={80} />)
    expect(plain(lastFrame())).toMatch(/failed +✗ n4 unreachable$/)
  })

  it('Given a finished move, When rendered, Then it shows how much was copied', () => {
    const {lastFrame} = render(<MoveRow move={{...copying, phase: 'done', terminal: true, fraction: 1}} width={80} />)
    expect(plain(lastFrame())).toMatch(/done +✓ 512 KiB copied$/)
  })

  it('Given a move warned of possible data loss, When rendered running or done, Then the row says DATA MAY BE LOST; a warning without loss says warned', () => {
    expect(plain(render(<MoveRow move={{...copying, warning: 'data-loss'}} width={100} />).lastFrame())).toMatch(/ETA 2s +DATA MAY BE LOST \(moves show\)$/)
    expect(plain(render(<MoveRow move={{...copying, phase: 'done', terminal: true, fraction: 1, warning: 'data-loss'}} width={80} />).lastFrame())).toMatch(/done +✓ 512 KiB copied · DATA MAY BE LOST \(moves show\)$/)
    expect(plain(render(<MoveRow move={{...copying, phase: 'done', terminal: true, fraction: 1, warning: 'warned'}} width={80} />).lastFrame())).toMatch(/done +✓ 512 KiB copied · warned \(moves show\)$/)
  })

  it('Given durations, When formatted as ETA, Then seconds, minutes and hours read naturally', () => {
    expect([formatEta(null), formatEta(42), formatEta(185), formatEta(3720)]).toEqual(['', '42s', '3m05s', '1h02m'])
  })
})
