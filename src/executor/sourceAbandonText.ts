import {type Move} from '../model/move.js'

/**
 * sourceAbandonText is what `moves show` says of a source abandoned with `moves abandon-source
 * --accept-data-loss` (sourceAbandon.ts), one line, or undefined when it was not: requested
 * and not needed yet (the destination needs no refill, or the source is up again), or done,
 * naming what the destination was refilled from and what was lost, and whether the source came
 * back before its copy was dropped.
 */
export function sourceAbandonText(m: Pick<Move, 'from' | 'to' | 'abandonSourceRequested' | 'sourceAbandoned'>): string | undefined {
  const done = m.sourceAbandoned
  if (done) {
    const refilled = done.refilledFrom.length > 0 ? `refilled from ${done.refilledFrom.join(', ')}` : 'no other copy to refill it from'
    const lost = `; records only ${m.from}'s copy held are lost`
    const back = !done.sourceRefillAt
      ? lost
      : done.sourceDirReplaced
        ? `; ${m.from} came back at ${done.sourceRefillAt} on another data dir (${done.sourceRefillDir ?? 'unknown'}), without its copy${lost}`
        : done.sourceDropMaySent
          ? `; ${m.from} came back at ${done.sourceRefillAt}, after its drop may have been sent, and ${m.to} was refilled from what remained of its copy${lost}`
          : `; ${m.from} came back before its copy was dropped and ${m.to} was refilled from it at ${done.sourceRefillAt}`
    // Told from the first time: a later refill without the source (the destination restarted again) never hides it.
    const earlier = done.earlier ?? []
    const first = earlier.length > 0 ? ` (first at ${earlier[0]!.at}, ${earlier.length + 1} times in all)` : ''
    // Staying voters abandoned with it (`moves abandon-voters`): the source's return gives back none of what only they held.
    const voters = [...new Set([...earlier, done].flatMap((e) => e.abandonedVoters ?? []))].sort()
    const gone = voters.length > 0 ? `; records only ${voters.join(', ')} (staying voters abandoned with it) held are lost` : ''
    return `source abandoned: went on without ${m.from} at ${done.at}${first}: ${m.to} (dir ${done.destinationDir ?? 'unknown'}) kept what it held (${refilled})${back}${gone}`
  }
  if (m.abandonSourceRequested) return `source abandoned by the operator at ${m.abandonSourceRequested} (--accept-data-loss): a refill of ${m.to} goes on without ${m.from} while ${m.from} holds no lease; not needed so far`
  return undefined
}
