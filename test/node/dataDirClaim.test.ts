import {describe, expect, it} from 'vitest'
import {countHeld, type DataDirInput, type DataDirStep, decideDataDir, describeHeld, matchDataDir} from '../../src/node/dataDirClaim.js'

const none = countHeld([])

/** expectRefusal: `step` refuses, in one line, with every `message` and `hint` part, and says nothing was changed. */
function expectRefusal(step: DataDirStep, parts: {message: string[]; hint: string[]}): void {
  if (step.kind !== 'refuse') throw new Error(`refusal expected, got ${step.kind}`)
  for (const part of [...parts.message, 'nothing was changed']) expect(step.message).toContain(part)
  for (const part of parts.hint) expect(step.hint).toContain(part)
  expect(`${step.message} — ${step.hint}`).not.toContain('\n')
}
const input = (over: Partial<DataDirInput> = {}): DataDirInput => ({node: 'n1', dir: '/srv/n1', match: 'other', held: countHeld([{role: 'voter'}, {role: 'voter'}]), ...over})

describe('matchDataDir', () => {
  it('same id: same; a record naming none: unrecorded (whatever the dir); another id or a new dir (no id yet): other', () => {
    expect(matchDataDir('a', 'a')).toBe('same')
    expect(matchDataDir(undefined, 'a')).toBe('unrecorded')
    expect(matchDataDir(undefined, undefined)).toBe('unrecorded')
    expect(matchDataDir('a', 'b')).toBe('other')
    expect(matchDataDir('a', undefined)).toBe('other')
  })

  it('the recorded dir below the mark published for it: behind; at or above it, a mark of another dir or none: same', () => {
    const published = (mark: number, dataDirId = 'a') => ({dataDirId, mark, at: '2026-12-04T18:00:00Z'})
    expect(matchDataDir('a', 'a', {local: 4, published: published(5)})).toBe('behind')
    expect(matchDataDir('a', 'a', {local: 0, published: published(1)})).toBe('behind')
    expect(matchDataDir('a', 'a', {local: 5, published: published(5)})).toBe('same')
    expect(matchDataDir('a', 'a', {local: 6, published: published(5)})).toBe('same')
    expect(matchDataDir('a', 'a', {local: 0, published: published(9, 'b')})).toBe('same')
    expect(matchDataDir('a', 'a', {local: 0, published: undefined})).toBe('same')
    expect(matchDataDir('a', 'b', {local: 0, published: published(9, 'b')})).toBe('other')
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
    expectRefusal(decideDataDir(input({held: countHeld([{role: 'voter'}, {role: 'voter'}, {role: 'learning'}])})), {
      message: ['data dir /srv/n1 is not the one node n1 last served from', 'node n1 holds replicas of 3 shards (2 as voter, 1 as learning)'],
      hint: ["point --data-dir at node n1's previous data dir", '`shardctl node drain n1`', '`shardctl node uncordon n1`', '`shardctl node remove n1`'],
    })
  })

  it('with --accept-empty-data serves it anyway, with a warning naming the risk and the repair', () => {
    const step = decideDataDir(input({acceptEmpty: true}))
    expect(step).toMatchObject({kind: 'accept-empty', warning: expect.stringContaining('`shardctl repair`')})
    expect(decideDataDir(input({acceptEmpty: true, held: none}))).toEqual({kind: 'accept'})
  })
})

describe('decideDataDir of a dir behind its published mark', () => {
  const marks = {local: 3, published: {dataDirId: 'a', mark: 7, at: '2026-12-04T18:00:00Z'}}
  it('refuses while the node holds replicas, in one line naming the dir, both marks, the replicas and the fix', () => {
    expectRefusal(decideDataDir(input({match: 'behind', marks})), {
      message: ['data dir /srv/n1 is older than what node n1 already served from it (its write mark is 3 and node n1 published 7 for it at 2026-12-04T18:00:00Z', 'restored from a backup or snapshot', 'node n1 holds replicas of 2 shards (2 as voter)'],
      hint: ['`shardctl node drain n1`', '--accept-empty-data'],
    })
  })

  it('serves it when the node holds no replica, and with --accept-empty-data warns', () => {
    expect(decideDataDir(input({match: 'behind', marks, held: none}))).toEqual({kind: 'accept'})
    expect(decideDataDir(input({match: 'behind', marks, acceptEmpty: true}))).toMatchObject({kind: 'accept-empty', warning: expect.stringContaining('which is older than what the node served (its write mark is 3')})
  })
})

describe('describeHeld', () => {
  it('counts shards and roles', () => {
    expect(describeHeld(countHeld([{role: 'voter'}]))).toBe('1 shard (1 as voter)')
    expect(describeHeld(none)).toBe('0 shards')
  })
})
