/** EtcdMemberStatus is one member's answer to `/v3/maintenance/status` (what `etcdctl endpoint status` shows). */
export interface EtcdMemberStatus {
  /** index is the member's position in the cluster (m<index+1>). */
  index: number
  memberId: string
  /** leader is the member id this member follows (itself when it leads); '0' when it knows none. */
  leader: string
  /**
   * raftTerm is the term of the member's last APPLIED entry (etcd's `Term()`), so it lags an
   * election: a new leader reports the old term until its first entry is applied. Only a
   * later term proves an election; an equal one proves nothing.
   */
  raftTerm: bigint
}

/**
 * parseStatus reads member `index`'s `/v3/maintenance/status` JSON (etcd's gRPC gateway:
 * ids and terms are decimal strings); undefined when a field is missing.
 */
export function parseStatus(index: number, json: unknown): EtcdMemberStatus | undefined {
  const s = json as {header?: {member_id?: unknown}; leader?: unknown; raftTerm?: unknown}
  const memberId = s?.header?.member_id
  if (typeof memberId !== 'string' || typeof s.leader !== 'string' || typeof s.raftTerm !== 'string') return undefined
  return {index, memberId, leader: s.leader, raftTerm: BigInt(s.raftTerm)}
}

/** EtcdLeader is the member leading at a raft term, as its own status said. */
export interface EtcdLeader {
  index: number
  memberId: string
  term: bigint
}

/**
 * leaderNow names the leader from statuses read together (`undefined` for members that
 * did not answer): the leader must have answered saying it leads, and every answering
 * member must follow it at its term (a member mid-election, or one still following an
 * older leader, makes the answer unsure: ask again). Returns the leader, or why there is
 * none to name. Pure.
 */
export function leaderNow(statuses: ReadonlyArray<EtcdMemberStatus | undefined>): EtcdLeader | string {
  const answered = statuses.filter((s): s is EtcdMemberStatus => s !== undefined)
  if (answered.length === 0) return 'no member answered'
  const self = answered.filter((s) => s.leader === s.memberId)
  if (self.length !== 1) return self.length === 0 ? `no answering member says it leads (${describe(answered)})` : `several members say they lead (${describe(answered)})`
  const leader = self[0]!
  const others = answered.filter((s) => s.leader !== leader.memberId || s.raftTerm !== leader.raftTerm)
  if (others.length > 0) return `members disagree on the leader (${describe(answered)})`
  return {index: leader.index, memberId: leader.memberId, term: leader.raftTerm}
}

/**
 * ELECTION_FLOOR_MS: no new etcd leader can be in place this soon after the old one died.
 * Followers campaign only after an election timeout without a heartbeat (etcd's default
 * `--election-timeout` 1000 ms, randomised upwards; heartbeats every 100 ms), so the
 * earliest election after a leader's death ends some 900 ms later; half a second keeps a
 * margin for clock reads on a loaded machine.
 */
export const ELECTION_FLOOR_MS = 500

/** StatusReading is every member's status (undefined: no answer), answered `msSinceKill` after the kill. */
export interface StatusReading {
  msSinceKill: number
  statuses: ReadonlyArray<EtcdMemberStatus | undefined>
}

/**
 * leaderKillVerdict judges, from the survivors' statuses read (in order) after member
 * `killed` was SIGKILLed, whether it was the leader when it died (its own status said so
 * just before). `landed`: the survivors agree on another leader at a later term, no sooner
 * than an election can follow a leader's death; `detail` says how sure: best, every
 * survivor still followed the killed member after the kill (no other leader existed then).
 * `missed`: sooner than {@link ELECTION_FLOOR_MS} after the kill a survivor already
 * followed another leader (it was elected before the kill: the kill hit a former leader).
 * `pending`: no new leader yet, or its term not yet applied (ask again). Pure.
 */
export function leaderKillVerdict(killed: EtcdLeader, readings: readonly StatusReading[]): {verdict: 'landed' | 'pending' | 'missed'; detail: string} {
  const name = `m${killed.index + 1}`
  let stillFollowedAt: number | undefined
  let last = 'no reading yet'
  for (const r of readings) {
    const survivors = r.statuses.filter((_, i) => i !== killed.index)
    const answered = survivors.filter((s): s is EtcdMemberStatus => s !== undefined)
    last = describe(answered)
    const other = answered.find((s) => s.leader !== killed.memberId && s.leader !== '0')
    if (other && r.msSinceKill < ELECTION_FLOOR_MS) return {verdict: 'missed', detail: `${Math.round(r.msSinceKill)} ms after the kill, sooner than an election can follow it, m${other.index + 1} already followed another leader (${last}): leadership had moved before ${name} was killed`}
    if (stillFollowedAt === undefined && answered.length === survivors.length && answered.every((s) => s.leader === killed.memberId)) stillFollowedAt = r.msSinceKill
    const now = leaderNow(answered)
    if (typeof now === 'string' || now.term <= killed.term || now.memberId === killed.memberId) continue
    const elected = `the survivors elected m${now.index + 1} (term ${now.term}) ${(r.msSinceKill / 1000).toFixed(1)} s after the kill`
    return {verdict: 'landed', detail: stillFollowedAt === undefined ? elected : `every survivor still followed ${name} ${Math.round(stillFollowedAt)} ms after the kill; ${elected}`}
  }
  return {verdict: 'pending', detail: `no new leader at a later term yet (${last})`}
}

function describe(statuses: readonly EtcdMemberStatus[]): string {
  return statuses.map((s) => `m${s.index + 1} term ${s.raftTerm} follows ${s.leader === s.memberId ? 'itself' : s.leader === '0' ? 'none' : s.leader}`).join(', ')
}
