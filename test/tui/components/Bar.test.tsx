import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {Bar} from '../../../src/tui/components/Bar.js'
import {plain} from './frame.js'

describe('Bar', () => {
  it('Given half of the scale, When rendered 10 wide, Then 5 cells are full and the rest dotted', () => {
    const {lastFrame} = render(<Bar value={0.5} scale={1} width={10} />)
    expect(plain(lastFrame())).toBe('█████·····')
  })

  it('Given a target beyond the value, When rendered, Then the target is marked', () => {
    const {lastFrame} = render(<Bar value={0.2} scale={2} width={10} target={1} />)
    expect(plain(lastFrame())).toBe('█····│····')
  })

  it('Given no width, When rendered, Then nothing is drawn', () => {
    const {lastFrame} = render(<Bar value={1} scale={1} width={0} />)
    expect(plain(lastFrame())).toBe('')
  })
})
