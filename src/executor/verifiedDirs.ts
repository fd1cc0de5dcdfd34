import {type MovePhase, PHASE_TABLE} from '../model/move.js'
import {type NodeClaim} from '../model/node.js'
import {ownValue} from '../model/ownKey.js'

/**
 * Which data dir a move's verification saw (pure). A move drops one side's copy of the
 * range (the source's at cleanup, the destination's at the end of a rollback) on the
 * strength of a digest comparison of the two. That comparison says something only of the
 * process and data dir that answered it: a node restarted since on another dir (a replaced
 * disk served with --accept-empty-data) or on an older copy of its dir (a restored backup,
 * accepted the same way, keeps the dir id) lacks what was compared. Until session 36 the
 * executor cut over to, and at rf 1 then dropped the only other copy of, such a destination:
 * every value it lacked was lost while the move ended `done`
 * (test/integration/node/joiningAcceptEmpty.test.ts).
 *
 * So every verification (and every rollback catch-up) is keyed on the `claims/<id>` of both
 * nodes as observed before it (the data dir id and the process instance: a start-up writes a
 * new claim, a re-registration of the same process does not), the cut-over records them in
 * the move (`verifiedDirs`), and from then on a node whose claim no longer matches is
 * compared again with the other copy before anything else happens to the move.
 * A plain restart on the same dir costs one more (cheap, equal) comparison; that is the price
 * of not being able to tell it from a restored dir.
 */

/** DirToken names one process serving one data dir: `<dataDirId>/<instance>`. */
export type DirToken = string

/** ObservedClaim is a node's `claims/<id>` as read for an observation (undefined value: absent). */
export interface ObservedClaim {
  token: DirToken | undefined
  modRevision: bigint
}

/** dirToken is the {@link DirToken} of a claim (undefined: none, a node never started by a build that writes claims). */
export function dirToken(claim: Pick<NodeClaim, 'dataDirId' | 'instance'> | undefined): DirToken | undefined {
  return claim ? `${claim.dataDirId}/${claim.instance}` : undefined
}

/**
 * claimsMatter tells whether a move in `phase` (as last seen) decides on its nodes' claims:
 * from `promoting` (its next observation may be `verifying`'s first) through cutover and
 * rollback, until terminal. The runner reads them only then: two etcd reads per observation.
 */
export function claimsMatter(phase: MovePhase): boolean {
  const info = PHASE_TABLE[phase]
  return !info.terminal && (info.cutOver || phase === 'promoting' || phase === 'verifying')
}

/** dataDirOf is the data dir id of a {@link DirToken} (its process instance left out); undefined for none. */
export function dataDirOf(token: DirToken | undefined): string | undefined {
  return token === undefined ? undefined : token.slice(0, token.lastIndexOf('/'))
}

/** VerifiedDirs maps node id → the {@link DirToken} its copy was compared under. */
export type VerifiedDirs = Readonly<Record<string, DirToken>>

/**
 * verifiedKey keys a comparison of `nodes` on their current claims, so a runner that already
 * compared them runs it again once either node restarted (its `done` set holds the old key).
 */
export function verifiedKey(step: string, nodes: readonly string[], claims: ReadonlyMap<string, ObservedClaim> | undefined): string {
  return `${step}@${nodes.map((n) => `${n}=${claims?.get(n)?.token ?? '?'}`).join(',')}`
}

/** verifiedNow records the current tokens of `nodes` (a node without a claim is left out: nothing to hold it to). */
export function verifiedNow(nodes: readonly string[], claims: ReadonlyMap<string, ObservedClaim> | undefined): Record<string, DirToken> {
  const out: Record<string, DirToken> = {}
  for (const n of nodes) {
    const token = claims?.get(n)?.token
    if (token !== undefined) out[n] = token
  }
  return out
}

/**
 * changedSince is true when `node` was compared under a recorded token and its claim now
 * names another process or dir (absent included: a node removed and added again). A node
 * with no recorded token (a move cut over by a build before this check, or a node without a
 * claim then) or a claim that could not be read is not judged: false.
 */
export function changedSince(verified: VerifiedDirs | undefined, node: string, claims: ReadonlyMap<string, ObservedClaim> | undefined): boolean {
  const recorded = ownValue(verified, node)
  const current = claims?.get(node)
  if (recorded === undefined || current === undefined) return false
  return current.token !== recorded
}

/** claimFences lists the claims of `nodes` a transition recording them must compare on (node id → mod revision, 0n: absent). */
export function claimFences(nodes: readonly string[], claims: ReadonlyMap<string, ObservedClaim> | undefined): {node: string; modRevision: bigint}[] {
  const out: {node: string; modRevision: bigint}[] = []
  for (const n of nodes) {
    const c = claims?.get(n)
    if (c) out.push({node: n, modRevision: c.modRevision})
  }
  return out
}

/**
 * dataDirChanged is true when `node` has a token recorded in `recorded` and its claim now names another data dir (by data
 * dir, not process: a plain restart keeps its copy; absent counts as another). A node with nothing recorded, or whose
 * claim was not read, is not judged: false. Own keys only (ownKey.ts).
 */
export function dataDirChanged(recorded: Readonly<Record<string, DirToken | null>> | undefined, node: string, claims: ReadonlyMap<string, ObservedClaim> | undefined): boolean {
  const was = ownValue(recorded, node)
  const current = claims?.get(node)
  if (was === undefined || was === null || current === undefined) return false
  return dataDirOf(current.token) !== dataDirOf(was)
}
