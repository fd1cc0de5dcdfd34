import {Box, Text} from 'ink'
import {isUnsuccessful} from '../../model/move.js'
import {type MoveRowView} from '../topView.js'
import {MoveRow} from './MoveRow.js'

/** MovesPanelProps: moves in display order, the width and how many move rows fit. */
export interface MovesPanelProps {
  moves: MoveRowView[]
  width: number
  maxRows: number
}

/**
 * MovesPanel lists running moves first, then recent finished ones, as many as fit; the
 * window scrolls so the selected move stays visible.
 */
export function MovesPanel({moves, width, maxRows}: MovesPanelProps) {
  const running = moves.filter((m) => !m.terminal).length
  const rows = Math.max(1, maxRows)
  const selected = moves.findIndex((m) => m.selected)
  const start = selected >= rows ? selected - rows + 1 : 0
  const shown = moves.slice(start, start + rows)
  const failed = moves.filter((m) => isUnsuccessful(m.phase)).length
  return (
    <Box flexDirection="column" width={width}>
      <Text bold wrap="truncate-end">
        MOVES{' '}
        <Text dimColor>
          {running} running, {moves.length - running} finished{failed > 0 ? ` (${failed} aborted/failed)` : ''}
          {moves.length > shown.length ? ` · showing ${start + 1}-${start + shown.length} of ${moves.length}` : ''}
        </Text>
      </Text>
      {moves.length === 0 ? <Text dimColor>no moves — the cluster is not being rebalanced</Text> : null}
      {shown.map((m) => (
        <MoveRow key={m.id} move={m} width={width} />
      ))}
    </Box>
  )
}
