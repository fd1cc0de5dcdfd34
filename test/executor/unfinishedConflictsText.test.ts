import {describe, expect, it} from 'vitest'
import {type MovePhase} from '../../src/model/move.js'
import {type PlanAction} from '../../src/model/plan.js'
import {conflictsVerdict, conflictsWithUnfinished, type UnfinishedMove} from '../../src/executor/unfinishedConflicts.js'
import {CONFLICT_PAIRS_SHOWN, conflictsMarkdown, conflictsTextLines, conflictsWarning} from '../../src/executor/unfinishedConflictsText.js'

const move = (shard: number, from: string, to: string): PlanAction => ({kind: 'move', shard, epoch: 1, from, to, bytes: 0, keys: 0, reason: {kind: 'drain', detail: 'x'}, predicted: {source: 1, target: 1}})
const other = (shard: number, from: string, to: string, phase: MovePhase = 'pending', plan = 'a'): UnfinishedMove => ({id: `${plan}-000${shard}`, plan, shard, from, to, phase, baseEpoch: 1, cancelRequested: false})
/** conflicts of plan `b` with `unfinished`, from the one check `apply` runs, on a map with every shard at epoch 1. */
const conflicts = (actions: PlanAction[], unfinished: UnfinishedMove[]) => conflictsWithUnfinished({id: 'b', actions}, unfinished, () => 1, () => false)

describe('unfinished conflicts as `plan` prints them', () => {
  it('Given no conflict, Then nothing is rendered and there is no warning', () => {
    expect(conflictsTextLines('b', [])).toEqual([])
    expect(conflictsMarkdown('b', [])).toEqual([])
    expect(conflictsWarning('b', [])).toBeNull()
  })

  it('Given plan b moving two shards to n3 while plan a\'s move to n3 is pending, Then the text names both pairs, that apply refuses it (exit 7) and the way out', () => {
    const c = conflicts([move(5, 'n2', 'n3'), move(6, 'n1', 'n3')], [other(7, 'n1', 'n3')])
    expect(conflictsTextLines('b', c)).toEqual([
      'conflicts  `apply` and `plan verify` will refuse this plan (exit 7): 2 of its action(s) change nodes that 1 unfinished move(s) of plan a also change; those moves would still run after this plan, on load it did not count',
      '             action 1 (shard 5 n2 -> n3) and move a-0007 (shard 7 n1 -> n3, pending) both change node n3',
      '             action 2 (shard 6 n1 -> n3) and move a-0007 (shard 7 n1 -> n3, pending) both change node n3',
      `           way out: ${conflictsVerdict('b', c)!.hint}`,
    ])
    expect(conflictsTextLines('b', c).at(-1)).toContain('shardctl apply --resume')
    expect(conflictsTextLines('b', c).at(-1)).toContain('shardctl moves cancel --plan a')
  })

  it('Given the markdown for a PR comment, Then it is one quoted block: a bold refusal, the pairs as a list with ids in code, the way out', () => {
    const md = conflictsMarkdown('b', conflicts([move(5, 'n2', 'n3')], [other(7, 'n1', 'n3', 'copying')]))
    expect(md.every((l) => l.startsWith('>'))).toBe(true)
    expect(md[0]).toMatch(/^> \*\*`shardctl apply` will refuse this plan \(exit 7\): it conflicts with other plans' unfinished moves\.\*\* 1 of its action\(s\) change nodes that 1 unfinished move\(s\) of plan `a` also change/)
    expect(md).toContain('> - action 1 (shard 5 `n2` -> `n3`) and move `a-0007` (shard 7 `n1` -> `n3`, copying) both change node `n3`')
    expect(md.at(-1)).toMatch(/^> Way out: finish those moves \(`shardctl apply --resume`\).*then compute a fresh plan with `shardctl plan`\.$/)
  })

  it('Given more pairs than are shown, Then the rest are counted and --json named for them', () => {
    const many = conflicts(Array.from({length: CONFLICT_PAIRS_SHOWN + 3}, (_, i) => move(20 + i, 'n2', 'n3')), [other(7, 'n1', 'n3')])
    expect(many).toHaveLength(CONFLICT_PAIRS_SHOWN + 3)
    const text = conflictsTextLines('b', many)
    expect(text.filter((l) => l.includes('both change node'))).toHaveLength(CONFLICT_PAIRS_SHOWN)
    expect(text).toContain('             ... 3 more pair(s) (--json lists all)')
    expect(conflictsMarkdown('b', many)).toContain('> - ... 3 more pair(s) (`shardctl plan --json` lists all)')
  })

  it('Given moves of two plans in the way, Then the headline names both plans and counts distinct moves', () => {
    const c = conflicts([move(5, 'n2', 'n3')], [other(7, 'n1', 'n3'), other(8, 'n4', 'n2', 'copying', 'c')])
    expect(conflictsTextLines('b', c)[0]).toContain('1 of its action(s) change nodes that 2 unfinished move(s) of plan a, c also change')
  })

  it('Given plan b moving shard 7\'s other replica while plan a\'s heal takes it off draining n1, Then the headline and the pair say the heal would be skipped and the shard kept on n1', () => {
    const c = conflictsWithUnfinished({id: 'b', actions: [move(7, 'n2', 'n4'), move(5, 'n2', 'n3')]}, [other(7, 'n1', 'n3')], () => 1, (node) => node === 'n1')
    const text = conflictsTextLines('b', c)
    expect(text[0]).toBe('conflicts  `apply` and `plan verify` will refuse this plan (exit 7): 1 of its action(s) change nodes that 1 unfinished move(s) of plan a also change; those moves would still run after this plan, on load it did not count; 1 of its action(s) would have 1 unfinished move(s) of plan a skipped, which take their shards off draining nodes: the shards would keep their replicas there')
    expect(text).toContain('             action 1 (shard 7 n2 -> n4) would have move a-0007 (shard 7 n1 -> n3, pending) skipped, which takes shard 7 off draining node n1')
    expect(conflictsMarkdown('b', c)).toContain('> - action 1 (shard 7 `n2` -> `n4`) would have move `a-0007` (shard 7 `n1` -> `n3`, pending) skipped, which takes shard 7 off draining node `n1`')
  })

  it('Given conflicts, Then the stderr warning is one line with the very message apply refuses with, and the way out', () => {
    const c = conflicts([move(5, 'n2', 'n3')], [other(7, 'n1', 'n3')])
    const warning = conflictsWarning('b', c)!
    const verdict = conflictsVerdict('b', c)!
    expect(warning).not.toContain('\n')
    expect(warning).toBe(`Warning: ${verdict.message}; \`apply\` will refuse it (exit 7) — ${verdict.hint}`)
  })
})
