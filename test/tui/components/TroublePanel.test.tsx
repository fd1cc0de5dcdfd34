import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'
import {TroublePanel} from '../../../src/tui/components/TroublePanel.js'
import {type TroubleView} from '../../../src/tui/topView.js'
import {lines} from './frame.js'

const item = (i: number): TroubleView => ({loss: true, move: `m${i}`, shard: i, phase: 'done', at: '2026-11-29T08:59:00.000Z', text: `move m${i}: n4 (its target, 127.0.0.1:7103) restarted while the move ran without appendonly: the keys of slots 0-511 it held are lost`, wayOut: `check the keys it names against your source of truth, then \`shardctl moves ack m${i}\``})

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

  it('Given a warning that reports no loss but waits for a check beside a loss, When rendered, Then the loss comes first and the other follows marked as not a loss, both counted in the title', () => {
    const check: TroubleView = {loss: false, move: 'm9', shard: 9, phase: 'failed', at: '2026-11-29T08:58:00.000Z', text: 'move m9: slot 208 is held open: n1 (its source, 127.0.0.1:7101) and n2 both hold 3 key(s) of it', wayOut: 'not a loss: check what it names (its text says what acknowledging does), then `shardctl moves ack m9`'}
    const out = lines(render(<TroublePanel trouble={[item(7), check]} width={100} maxRows={3} />).lastFrame())
    expect(out[0]).toBe('TROUBLE 1 warning(s) of possible data loss, 1 waiting for a check (not a loss) not acknowledged')
    expect(out[1]).toMatch(/^⚠ move m7 \(shard 7, done\): check the keys, then `shardctl moves ack m7` — move/)
    expect(out[2]).toMatch(/^⚠ move m9 \(shard 9, failed\): not a loss, check it, then `shardctl moves ack m9` — move m9/)
    expect(out).toHaveLength(3)
  })

  it('Given only warnings waiting for a check, more than fit, When rendered, Then the title says no loss and the rest are found in `cluster status` (which lists them too since session 41)', () => {
    const check = (i: number): TroubleView => ({...item(i), loss: false, text: `move m${i}: resumed from a record written before shardctl kept the run_id of n${i}`})
    const out = lines(render(<TroublePanel trouble={[1, 2, 3].map(check)} width={100} maxRows={2} />).lastFrame())
    expect(out[0]).toBe('TROUBLE 3 waiting for a check (not a loss) not acknowledged')
    expect(out[1]).toMatch(/^⚠ move m1 \(shard 1, done\): not a loss, check it/)
    expect(out[2]).toBe('… 2 more: `shardctl cluster status` lists every one')
  })
})
