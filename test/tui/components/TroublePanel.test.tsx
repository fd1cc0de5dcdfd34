import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {TroublePanel} from '../../../src/tui/components/TroublePanel.js'
import {type TroubleView} from '../../../src/tui/topView.js'
import {lines} from './frame.js'

const item = (i: number): TroubleView => ({move: `m${i}`, shard: i, phase: 'done', at: '2026-11-29T08:59:00.000Z', text: `move m${i}: n4 (its target, 127.0.0.1:7103) restarted while the move ran without appendonly: the keys of slots 0-511 it held are lost`, wayOut: `check the keys it names against your source of truth, then \`shardctl moves ack m${i}\``})

describe('TroublePanel', () => {
  it('Given no trouble, When rendered, Then it takes no row', () => {
    expect(lines(render(<TroublePanel trouble={[]} width={80} maxRows={3} />).lastFrame())).toEqual([''])
  })

  it('Given a warning of possible data loss, When rendered at 80 columns, Then the way out comes first and the warning after, cut to the width', () => {
    const out = lines(render(<TroublePanel trouble={[item(7)]} width={80} maxRows={3} />).lastFrame())
    expect(out[0]).toBe('TROUBLE 1 warning(s) of possible data loss not acknowledged (as cluster status)')
    expect(out[1]).toMatch(/^⚠ move m7 \(shard 7, done\): check the keys, then `shardctl moves ack m7` — move/)
    expect(out).toHaveLength(2)
    for (const l of out) expect(l.length).toBeLessThanOrEqual(80)
  })

  it('Given more warnings than rows, When rendered, Then it shows what fits and says how many more and where they are listed', () => {
    const out = lines(render(<TroublePanel trouble={[1, 2, 3, 4, 5].map(item)} width={100} maxRows={3} />).lastFrame())
    expect(out).toHaveLength(4)
    expect(out[1]).toContain('`shardctl moves ack m1`')
    expect(out[2]).toContain('`shardctl moves ack m2`')
    expect(out[3]).toBe('… 3 more: `shardctl cluster status` lists every one')
  })
})
