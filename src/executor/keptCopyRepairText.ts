import {type Move} from '../model/move.js'
import {ownValue} from '../model/ownKey.js'

/**
 * keptCopyRepairText is what `moves show` says of the repair from the destination's copy kept outside the map
 * (moveMachine.ts dropKeptCopy; the record is `keptCopyRepair`, which `moves show --json` carries as is), one line, or
 * undefined when no repair ran: its state (repaired, the drop about to be sent; or dropped), the voters repaired and the
 * records they lacked or held older, and whether the copy read was on another data dir than the one it was known under.
 */
export function keptCopyRepairText(m: Pick<Move, 'to' | 'keptCopyRepair'>): string | undefined {
  const r = m.keptCopyRepair
  if (!r) return undefined
  const state = r.state === 'repaired' ? `repaired at ${r.at}, ${m.to}'s copy about to be dropped` : `repaired at ${r.at}, ${m.to}'s copy dropped`
  const voters = r.voters.length > 0 ? r.voters.join(', ') : 'none'
  const replaced = r.copyReplaced ? `; ${m.to} served another data dir (${ownValue(r.dirs, m.to) ?? 'unknown'}) than its copy's (${r.copyDir ?? 'unknown'}): what only the old copy held is lost` : ''
  return `kept copy repair: ${state}; voters repaired: ${voters}; records sent: ${r.records}${replaced}`
}
