import {describe, expect, it} from 'vitest'
import {type EtcdLeader, type EtcdMemberStatus, ELECTION_FLOOR_MS, leaderKillVerdict, leaderNow, parseStatus} from './etcdLeader.js'

const ID = ['101', '202', '303']

/** st is member `index`'s status: following member `leader` (an index, or -1 for none) at `term`. */
function st(index: number, leader: number, term: number): EtcdMemberStatus {
  return {index, memberId: ID[index]!, leader: leader < 0 ? '0' : ID[leader]!, raftTerm: BigInt(term)}
}

describe('parseStatus', () => {
  it('Given etcd 3.4 gateway JSON, When parsed, Then ids stay strings and the term is a bigint', () => {
    const json = {header: {cluster_id: '1', member_id: '13668033151171901709', revision: '1', raft_term: '2'}, version: '3.4.23', leader: '13668033151171901709', raftIndex: '4', raftTerm: '2'}
    expect(parseStatus(0, json)).toEqual({index: 0, memberId: '13668033151171901709', leader: '13668033151171901709', raftTerm: 2n})
  })

  it('Given an answer without a leader field, When parsed, Then it is no status', () => {
    expect(parseStatus(1, {header: {member_id: '1'}})).toBeUndefined()
  })
})

describe('leaderNow', () => {
  it('Given every member following m2 at term 4 and m2 saying it leads, When asked, Then m2 leads at term 4', () => {
    expect(leaderNow([st(0, 1, 4), st(1, 1, 4), st(2, 1, 4)])).toEqual({index: 1, memberId: '202', term: 4n})
  })

  it('Given a restarted follower still on the old term, When asked, Then no leader is named (ask again)', () => {
    expect(leaderNow([st(0, 1, 4), st(1, 1, 4), st(2, 0, 3)])).toMatch(/disagree/)
  })

  it('Given members that name a leader which did not answer, When asked, Then no leader is named', () => {
    expect(leaderNow([st(0, 2, 4), st(1, 2, 4), undefined])).toMatch(/no answering member says it leads/)
  })
})

describe('leaderKillVerdict', () => {
  const m3: EtcdLeader = {index: 2, memberId: '303', term: 5n}

  it('Given survivors that still follow the killed member, then elect another, When judged, Then the kill hit the leader, and the note says both', () => {
    const v = leaderKillVerdict(m3, [
      {msSinceKill: 40, statuses: [st(0, 2, 5), st(1, 2, 5), undefined]},
      {msSinceKill: 800, statuses: [st(0, -1, 5), st(1, -1, 5), undefined]},
      {msSinceKill: 1400, statuses: [st(0, 0, 6), st(1, 0, 6), undefined]},
    ])
    expect(v.verdict).toBe('landed')
    expect(v.detail).toBe('every survivor still followed m3 40 ms after the kill; the survivors elected m1 (term 6) 1.4 s after the kill')
  })

  it('Given survivors still following the killed member and no election yet, When judged, Then it is pending', () => {
    expect(leaderKillVerdict(m3, [{msSinceKill: 300, statuses: [st(0, 2, 5), st(1, 2, 5), undefined]}]).verdict).toBe('pending')
  })

  it('Given a new leader whose first entry is not applied yet (etcd still reports the old term: seen in a run), When judged, Then it is pending, not missed, until the later term shows', () => {
    const elected = {msSinceKill: 1693, statuses: [st(0, 0, 5), st(1, 0, 5), undefined]}
    expect(leaderKillVerdict(m3, [elected]).verdict).toBe('pending')
    expect(leaderKillVerdict(m3, [elected, {msSinceKill: 1900, statuses: [st(0, 0, 6), st(1, 0, 6), undefined]}]).verdict).toBe('landed')
  })

  it('Given leadership that moved to m1 before the kill (a survivor follows it right after the kill, sooner than an election), When judged, Then the kill missed the leader', () => {
    const v = leaderKillVerdict(m3, [{msSinceKill: 30, statuses: [st(0, 0, 6), st(1, 0, 6), undefined]}])
    expect(v.verdict).toBe('missed')
    expect(v.detail).toMatch(/^30 ms after the kill, sooner than an election can follow it, m1 already followed another leader.*before m3 was killed/)
  })

  it('Given only late readings, When a new leader at a later term shows after the election floor, Then it counts as landed without the stronger proof', () => {
    const v = leaderKillVerdict(m3, [{msSinceKill: ELECTION_FLOOR_MS + 700, statuses: [st(0, 1, 6), st(1, 1, 6), undefined]}])
    expect(v).toEqual({verdict: 'landed', detail: 'the survivors elected m2 (term 6) 1.2 s after the kill'})
  })
})
