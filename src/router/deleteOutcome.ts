/** ReplacedRecord is what one replica held for a key just before it stored a client's tombstone: its version (absent: nothing) and whether it was a value. */
export interface ReplacedRecord {
  version?: string
  live: boolean
}

/**
 * deleteRemovedValue tells whether a delete removed a value, from what the replicas that
 * stored its tombstone had replaced there: the newest of those records decides (last
 * writer wins, as a quorum read of them just before the delete would have), so a replica
 * still holding a value an earlier delete already beat on another replica does not count.
 * A replica that held nothing ranks below any version. Returns undefined when no replica
 * could tell (each already held this tombstone: a retried round), never a guess.
 */
export function deleteRemovedValue(replaced: readonly ReplacedRecord[]): boolean | undefined {
  let newest: ReplacedRecord | undefined
  for (const r of replaced) {
    if (!newest || (r.version !== undefined && (newest.version === undefined || r.version > newest.version))) newest = r
  }
  return newest?.live
}

/**
 * DeleteReports gathers, over every round of one delete, what each replica said the call's
 * tombstone replaced there, and answers whether the delete removed a value only when that
 * answer is not a guess. A replica that acknowledged without telling (it already held this
 * very tombstone from an earlier round whose answer was lost, or it predates
 * `deletePriors`) might be the one that held the value, so it makes the answer unknown
 * rather than false; so do write quorums that need not meet (`w + w <= voters`), where the
 * acknowledging replicas may all have missed the last write. After a re-issue, `false` is
 * unknown too: an earlier attempt may have replaced the value on a replica where a
 * concurrent delete then found it and answered `false` itself, and the re-issue, above that
 * delete, finds only its tombstone.
 */
export class DeleteReports {
  private readonly issued = new Set<string>()
  private readonly replaced: ReplacedRecord[] = []
  private readonly told = new Set<string>()

  /** issue notes a version this call wrote its tombstone at: a later round replacing it learns nothing about the key. */
  issue(version: string): void {
    this.issued.add(version)
  }

  /** report takes what `node` said when it acknowledged (any round, late answers included): `prior` undefined when it said nothing. */
  report(node: string, prior: ReplacedRecord | undefined): void {
    if (!prior || (prior.version !== undefined && this.issued.has(prior.version))) return
    this.replaced.push(prior)
    this.told.add(node)
  }

  /** outcome: whether the delete removed a value, judged by the replicas in `acked` (the succeeding round's); undefined when one of them never told, `quorumsMeet` is false, or it would be false after a re-issue. */
  outcome(acked: Iterable<string>, quorumsMeet: boolean): boolean | undefined {
    if (!quorumsMeet) return undefined
    for (const node of acked) if (!this.told.has(node)) return undefined
    const removed = deleteRemovedValue(this.replaced)
    return removed === false && this.issued.size > 1 ? undefined : removed
  }
}
