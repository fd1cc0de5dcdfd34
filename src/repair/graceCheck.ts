/**
 * graceRefusal says why tombstones may not be purged given the `--tombstone-grace` each
 * node publishes in its alive record (`graces`: node → ms, undefined when the node
 * publishes none), or undefined when every node publishes the same one.
 *
 * Why the purge needs one grace on every node, not only on the shard's replicas: the
 * agreed cutoff is below every current replica's stale floor, but a node that later joins
 * the shard refuses only client writes older than its own clock minus its own grace. With
 * a longer grace it takes a late write of a value the purged tombstone had deleted, and a
 * read quorum holding it and a replica that purged returns the deleted value. A move's
 * copy now carries the source's gc floor, which the destination adopts before the copy's
 * first frame (CopyPuller.adoptSourceFloors), so that case is closed even for a node this
 * check cannot see (down during the purge); the check stays for a source of an older
 * build, which sends no floor. A node that publishes no grace (a build before it was
 * published) may serve any: unknown, so no purge.
 */
export function graceRefusal(graces: ReadonlyMap<string, number | undefined>): string | undefined {
  const unknown = [...graces].filter(([, g]) => g === undefined).map(([n]) => n)
  if (unknown.length > 0) return `node${unknown.length > 1 ? 's' : ''} ${unknown.sort().join(', ')} publish${unknown.length > 1 ? '' : 'es'} no --tombstone-grace (an older build): tombstones are kept until every node runs a build that publishes it`
  const byGrace = new Map<number, string[]>()
  for (const [node, g] of graces) byGrace.set(g!, [...(byGrace.get(g!) ?? []), node])
  if (byGrace.size <= 1) return undefined
  const groups = [...byGrace].sort((a, b) => a[0] - b[0]).map(([g, ns]) => `${ns.sort().join(', ')}: ${g} ms`)
  return `nodes serve different --tombstone-grace (${groups.join('; ')}): tombstones are kept until every node is restarted with the same --tombstone-grace`
}
