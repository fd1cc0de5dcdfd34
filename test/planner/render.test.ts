import {describe, expect, it} from 'vitest'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {renderPlanMarkdown} from '../../src/planner/render/planMarkdown.js'
import {describeAction, renderPlanText} from '../../src/planner/render/planText.js'
import {utilisationBar} from '../../src/planner/render/utilisationBar.js'
import {snapshotOf} from './snapshotBuilder.js'

const even = (n: number, node: string) => Array.from({length: n}, () => ({replicas: [node], reads: 10, writes: 10, bytes: 2 ** 30}))
const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b', zone: 'z1'}, {id: 'c', state: 'draining'}, {id: 'd'}], shards: [...even(6, 'a'), ...even(2, 'b'), ...even(3, 'c'), ...even(1, 'd')]})
const plan = planRebalance(snap, {}, {id: 'plan-7', createdAt: '2025-01-01T00:00:00.000Z'})

describe('utilisationBar', () => {
  it('given values on a scale, when drawn, then the bar length is proportional in eighth cells', () => {
    expect(utilisationBar(1, 2, 8)).toBe('████    ')
    expect(utilisationBar(2, 2, 8)).toBe('████████')
    expect(utilisationBar(0, 2, 8)).toBe('        ')
    expect(utilisationBar(1 / 16, 1, 2)).toBe('▏ ')
  })

  it('given a target beyond the bar, when drawn, then it is marked', () => {
    expect(utilisationBar(0.5, 2, 8, 1.5)).toBe('██    │ ')
    expect(utilisationBar(1.8, 2, 8, 1.5)).toBe('███████▎')
  })
})

describe('renderPlanText', () => {
  it('given a plan, when rendered, then it shows the verdict, imbalance beside the ring baseline, bars per node and the reasons', () => {
    const text = renderPlanText(plan)
    expect(text).toContain('status     needs-rebalance')
    expect(text).toMatch(/imbalance 1\.50x -> 1\.00x the mean \(target 1\.1x\); ring baseline: \d\.\d\dx with \d+ moves/)
    expect(text).toMatch(/^ {2}c +z0 +draining +█+ +│ +0\.75x +│ +0\.00x$/m)
    expect(text).toContain('drain: node c is draining')
    expect(text).toContain('stopped    within-target')
  })

  it('given more nodes than the limit, when rendered, then the most changed are listed and the rest counted', () => {
    const text = renderPlanText(plan, {nodes: 2, actions: 1})
    expect(text).toContain('... 2 more nodes change less')
    expect(text).toMatch(/\.\.\. \d+ more \(--format json lists all\)/)
  })
})

describe('alerts (lines about the plan that are not in its file: conflicts with other plans\' unfinished moves)', () => {
  it('given alerts, when rendered as text, then they sit right under the status line, indented as the header; without alerts the text is unchanged', () => {
    const lines = renderPlanText(plan, {}, ['conflicts  first', '           second']).split('\n')
    const status = lines.findIndex((l) => l.startsWith('  status '))
    expect(lines.slice(status + 1, status + 3)).toEqual(['  conflicts  first', '             second'])
    expect(renderPlanText(plan, {}, [])).toBe(renderPlanText(plan))
  })

  it('given alerts, when rendered as markdown, then they follow the verdict as their own block; without alerts the markdown is unchanged', () => {
    const lines = renderPlanMarkdown(plan, {}, ['> **refused**', '> - pair']).split('\n')
    const verdict = lines.findIndex((l) => l.startsWith('**Rebalance needed'))
    expect(lines.slice(verdict + 1, verdict + 5)).toEqual(['', '> **refused**', '> - pair', ''])
    expect(renderPlanMarkdown(plan, {}, [])).toBe(renderPlanMarkdown(plan))
  })
})

describe('renderPlanMarkdown', () => {
  it('given a plan, when rendered, then it is a PR summary with a before/after/baseline table and collapsible details', () => {
    const md = renderPlanMarkdown(plan)
    expect(md).toContain('### shardctl plan `plan-7` for `test`')
    expect(md).toContain('**Rebalance needed: this plan reaches the target**')
    expect(md).toMatch(/\| max utilisation \(x mean\) \| 1\.50 \| 1\.00 \| \d\.\d\d \|/)
    expect(md).toContain('<details><summary>Per-node utilisation (4 of 4 nodes)</summary>')
    expect(md).toContain(`plan sha256 \`${plan.hash.slice(0, 12)}\``)
  })

  it('given a plan that stops before the target (a ring plan, --max-moves), when rendered, then the status is unreachable and the verdict says it stops short', () => {
    for (const short of [planRebalance(snap, {maxMoves: 1}, {id: 'plan-8', createdAt: '2025-01-01T00:00:00.000Z'}), planRebalance(snap, {strategy: 'ring'}, {id: 'plan-9', createdAt: '2025-01-01T00:00:00.000Z'})]) {
      expect(short.summary.status).toBe('unreachable')
      expect(short.summary.imbalanceAfter).toBeGreaterThan(short.summary.target)
      const md = renderPlanMarkdown(short)
      expect(md).not.toContain('reaches the target')
      expect(md).toContain(`**Target not reached: this plan stops short of it (${short.summary.imbalanceAfter.toFixed(2)}x the mean after, stopped: ${short.summary.stopReason})**`)
      expect(renderPlanText(short)).toContain(`status     unreachable (this plan stops short of the target: ${short.summary.stopReason})`)
    }
  })

  it('given a plan the rules stop (a hot shard), when rendered, then the verdict says the target is unreachable, not that the plan stops short', () => {
    const hot = planRebalance(snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [{replicas: ['a'], reads: 100}, {replicas: ['b'], reads: 1}]}), {}, {id: 'plan-10', createdAt: '2025-01-01T00:00:00.000Z'})
    expect(renderPlanMarkdown(hot)).toContain('**Target unreachable with this plan**')
    expect(renderPlanText(hot)).toMatch(/^ {2}status {5}unreachable$/m)
  })

  it('given nodes 0.0004 outside a 1.1x band, when rendered, then the node table shows the digits that put them outside (it printed 1.10 and 0.90, the band edges)', () => {
    const edge = planRebalance(snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [{replicas: ['a'], reads: 11004}, {replicas: ['b'], reads: 8996}]}), {}, {id: 'plan-11', createdAt: '2025-01-01T00:00:00.000Z'})
    const md = renderPlanMarkdown(edge)
    expect(md).toMatch(/^\| `a` \| z0 \| active \| `[^`]+` \| 1\.1004 \| `[^`]+` \| 1\.1004 \|$/m)
    expect(md).toMatch(/^\| `b` \| z0 \| active \| `[^`]+` \| 0\.8996 \| `[^`]+` \| 0\.8996 \|$/m)
  })

  it('given an action whose predicted utilisations lie 0.0004 off a 1.1x band, when described with the band, then its [after: ...] shows the digits that put them off (it printed 1.10x and 0.90x)', () => {
    const a = plan.actions.find((x) => x.kind === 'move')!
    expect(a).toBeDefined()
    const off = {...a, predicted: {...a.predicted, source: 1.1004, target: 0.8996}}
    expect(describeAction(off, [0.9, 1.1])).toMatch(/\[after: \S+ 1\.1004x, \S+ 0\.8996x\]$/)
    expect(describeAction({...a, predicted: {...a.predicted, source: 1.0412, target: 0.9733}}, [0.9, 1.1])).toMatch(/\[after: \S+ 1\.04x, \S+ 0\.97x\]$/)
    expect(renderPlanText(plan)).toContain(`[after: ${a.from} ${a.predicted.source.toFixed(2)}x`)
  })
})
