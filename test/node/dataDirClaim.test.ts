import {describe, expect, it} from 'vitest'
import {countHeld, type DataDirInput, decideDataDir, describeHeld, matchDataDir} from '../../src/node/dataDirClaim.js'

const none = countHeld([])
const input = (over: Partial<DataDirInput> = {}): DataDirInput => ({node: 'n1', dir: '/srv/n1', match: 'other', held: countHeld([{role: 'voter'}, {role: 'voter'}]), ...over})

describe('matchDataDir', () => {
  it('same id: same; a record naming none: unrecorded (whatever the dir); another id or a new dir (no id yet): other', () => {
    expect(matchDataDir('a', 'a')).toBe('same')
    expect(matchDataDir(undefined, 'a')).toBe('unrecorded')
    expect(matchDataDir(undefined, undefined)).toBe('unrecorded')
    expect(matchDataDir('a', 'b')).toBe('other')
    expect(matchDataDir('a', undefined)).toBe('other')
  })
})

describe('decideDataDir', () => {
  it('serves the recorded dir (a restart) and a record naming none (a node before dir ids, or never started), recording this dir, replicas or not', () => {
    expect(decideDataDir(input({match: 'same'}))).toEqual({kind: 'accept'})
    expect(decideDataDir(input({match: 'unrecorded'}))).toEqual({kind: 'accept'})
  })

  it('serves another dir when the node holds no replica (new, drained or removed and added again), recording it', () => {
    expect(decideDataDir(input({held: none}))).toEqual({kind: 'accept'})
  })

  it('refuses another dir while the node holds replicas in any role, naming the dir, the node, the count and the fix', () => {
    for (const role of ['voter', 'learning', 'joining', 'outgoing', 'leaving']) {
      const step = decideDataDir(input({held: countHeld([{role}])}))
      expect(step, role).toMatchObject({kind: 'refuse'})
    }
    const step = decideDataDir(input({held: countHeld([{role: 'voter'}, {role: 'voter'}, {role: 'learning'}])}))
    if (step.kind !== 'refuse') throw new Error(`refusal expected, got ${step.kind}`)
    expect(step.message).toContain('data dir /srv/n1 is not the one node n1 last served from')
    expect(step.message).toContain('node n1 holds replicas of 3 shards (2 as voter, 1 as learning)')
    expect(step.message).toContain('nothing was changed')
    expect(step.hint).toContain("point --data-dir at node n1's previous data dir")
    expect(step.hint).toContain('`shardctl node drain n1`')
    expect(step.hint).toContain('`shardctl node uncordon n1`')
    expect(step.hint).toContain('`shardctl node remove n1`')
    expect(`${step.message} — ${step.hint}`).not.toContain('\n')
  })

  it('with --accept-empty-data serves it anyway, with a warning naming the risk and the repair', () => {
    const step = decideDataDir(input({acceptEmpty: true}))
    expect(step).toMatchObject({kind: 'accept-empty', warning: expect.stringContaining('`shardctl repair`')})
    expect(decideDataDir(input({acceptEmpty: true, held: none}))).toEqual({kind: 'accept'})
  })
})

describe('describeHeld', () => {
  it('counts shards and roles', () => {
    expect(describeHeld(countHeld([{role: 'voter'}]))).toBe('1 shard (1 as voter)')
    expect(describeHeld(none)).toBe('0 shards')
  })
})
