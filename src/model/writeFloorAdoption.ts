import {UserError} from '../errors/errors.js'
import {lowerWriteFloor, newWriteFloor, parseWriteFloor, type WriteFloor} from './writeFloor.js'

/**
 * LowestW is an operator's statement of the smallest write quorum any router of a cluster
 * ever ran with: an explicit `--w` count, a majority (every router ran without `--w`), or
 * both (some ran with `--w count`, others without: neither covers the other at every voter
 * count, see src/model/writeFloor.ts).
 */
export interface LowestW {
  w: number | null
  majority: boolean
}

const LOWEST_W_HINT = 'e.g. --lowest-w 2 (the smallest --w any router ran with), --lowest-w majority (every router ran without --w), or --lowest-w 2,majority (both kinds ran)'

/**
 * parseLowestW (pure) reads `--lowest-w`: `N` (an integer >= 1), `majority`, or `N,majority`.
 * Anything else (missing, 0, `fast`, two counts) is a UserError(BAD_INPUT, exit 2) naming the flag.
 */
export function parseLowestW(text: string | undefined): LowestW {
  if (text === undefined || text.trim() === '') throw new UserError('BAD_INPUT', '--lowest-w is required: the smallest write quorum any router of this cluster ever ran with', LOWEST_W_HINT)
  let w: number | null = null
  let majority = false
  for (const part of text.split(',').map((p) => p.trim().toLowerCase())) {
    if (part === 'majority' && !majority) majority = true
    else if (/^\d+$/.test(part) && w === null && Number(part) >= 1 && Number(part) <= 1000) w = Number(part)
    else throw new UserError('BAD_INPUT', `--lowest-w must be N (a --w of at least 1), majority, or N,majority; got "${text}"`, LOWEST_W_HINT)
  }
  return {w, majority}
}

/** formatLowestW is the flag's text for a statement (`2`, `majority`, `2,majority`). */
export function formatLowestW(s: LowestW): string {
  return [...(s.w === null ? [] : [String(s.w)]), ...(s.majority ? ['majority'] : [])].join(',')
}

/**
 * unreadableFloorHint is the way out of a write floor that exists but does not parse (`key`: its
 * etcd key): adopt refuses an existing key, so it has to go first.
 */
export function unreadableFloorHint(key = 'write-floor'): string {
  return `inspect it with \`etcdctl get ${key}\`, delete it (\`etcdctl del ${key}\`), then run \`shardctl cluster write-floor adopt\``
}

/**
 * adoptWriteFloor (pure) is the write floor an operator adopts for a cluster that has none
 * (created before the floor existed): the operator's statement, lowered to cover every
 * router registered now (`registered`: each one's `--w`, null for a majority, undefined
 * for an entry that does not say or cannot be read, which counts as 1). The result is never
 * above what any registered router says, whatever the operator said: the statement can
 * only be trusted about routers that are gone.
 *
 * Undefined `existing` is the only case it decides for; a floor that exists (even empty) is
 * refused with UserError(ALREADY_EXISTS): adoption never raises a floor, and an existing one
 * is kept low by the routers themselves (src/router/writeFloorRecord.ts). An existing one that
 * cannot be read is refused with the way out ({@link unreadableFloorHint}; `keyName` its key).
 */
export function adoptWriteFloor(input: {existing: string | undefined; keyName?: string; stated: LowestW; registered: readonly (number | null | undefined)[]; now: string}): WriteFloor {
  if (input.existing !== undefined && !parseWriteFloor(input.existing)) {
    throw new UserError('ALREADY_EXISTS', 'the cluster\'s write floor exists but cannot be read (it counts as w = 1): adopt never changes one', unreadableFloorHint(input.keyName))
  }
  if (input.existing !== undefined) {
    throw new UserError('ALREADY_EXISTS', 'the cluster already has a write floor: adopt is only for a cluster created before it existed, and never changes one', 'see it with `shardctl cluster status`; routers lower it themselves')
  }
  let floor: WriteFloor = {...newWriteFloor(input.now), by: null, adopted: {at: input.now, lowestW: formatLowestW(input.stated), routers: input.registered.length}}
  const quorums: (number | null)[] = [...(input.stated.w === null ? [] : [input.stated.w]), ...(input.stated.majority ? [null] : []), ...input.registered.map((w) => (w === undefined ? 1 : w))]
  for (const w of quorums) floor = lowerWriteFloor(floor, w, 'adopt', input.now) ?? floor
  // lowerWriteFloor names a router in `by`; an adopted floor was lowered by nobody yet.
  return {...floor, by: null, updatedAt: input.now}
}
