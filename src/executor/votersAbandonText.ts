import {isTerminal, type Move} from '../model/move.js'

/**
 * votersAbandonText is what `moves show` says of a `moves abandon-voters` mark (votersAbandon.ts), one line, or undefined
 * when the move carries none or has finished: when it was set, each voter it names with the claim (`<dataDirId>/<instance>`)
 * it last registered under, and how the mark ends (the refill honours it while they hold no lease; every one back on that
 * data dir first withdraws it). A mark from before session 41 names none and covers every staying voter down. `moves show
 * --json` carries the record's fields as they are (`abandonVotersRequested`, `abandonVotersDirs`).
 */
export function votersAbandonText(m: Pick<Move, 'phase' | 'to' | 'abandonVotersRequested' | 'abandonVotersDirs'>): string | undefined {
  if (m.abandonVotersRequested === undefined || isTerminal(m.phase)) return undefined
  const named = m.abandonVotersDirs
  const voters =
    named === undefined
      ? 'every staying voter down (a mark that names none)'
      : Object.keys(named)
          .sort()
          .map((n) => `${n} (last on ${named[n] ?? 'no readable claim'})`)
          .join(', ')
  return `down staying voters abandoned by the operator at ${m.abandonVotersRequested} (--accept-data-loss): ${voters}; the refill of ${m.to} goes on from what is up while they hold no lease; every one back on its data dir first withdraws the mark`
}
