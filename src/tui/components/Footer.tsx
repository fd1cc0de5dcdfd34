import {Text} from 'ink'
import {type MoveRowView} from '../topView.js'

/** FooterProps: the move awaiting a cancel confirmation (if any), whether moves are paused, the width. */
export interface FooterProps {
  confirm: MoveRowView | null
  paused: boolean
  width: number
}

/** Footer shows the keys, or the cancel confirmation prompt while one is open. */
export function Footer({confirm, paused, width}: FooterProps) {
  if (confirm) {
    return (
      <Text wrap="truncate-end" color="yellow" bold>
        Cancel move of shard {confirm.shard} {confirm.from} → {confirm.to}? It aborts back to the old replicas. [y/N]
      </Text>
    )
  }
  const keys = width >= 80 ? `p ${paused ? 'resume' : 'pause'} · +/- throttle · ↑/↓ select move · c cancel · ? help · q quit` : `p ${paused ? 'resume' : 'pause'} +/- ↑↓ c ? q`
  return (
    <Text wrap="truncate-end" inverse>
      {` ${keys}`.padEnd(Math.max(0, width - 1))}
    </Text>
  )
}
