import {Box} from 'ink'
import {type TopView} from '../topView.js'
import {ClientsPanel} from './ClientsPanel.js'
import {EventLog} from './EventLog.js'
import {Footer} from './Footer.js'
import {Header} from './Header.js'
import {HelpPanel} from './HelpPanel.js'
import {MovesPanel} from './MovesPanel.js'
import {NodesPanel} from './NodesPanel.js'
import {TroublePanel} from './TroublePanel.js'

/** TopScreenProps: the derived view and the terminal size. */
export interface TopScreenProps {
  view: TopView
  width: number
  height: number
}

/** ScreenRows is how a terminal's rows are shared between the panels. */
export interface ScreenRows {
  /** trouble: the trouble panel's rows, title included (0 without warnings). */
  trouble: number
  nodes: number
  moves: number
  log: number
}

/** TROUBLE_ROWS_MAX bounds the warnings the trouble panel lists (the last line then says how many more). */
const TROUBLE_ROWS_MAX = 3

/**
 * screenRows shares `height - 1` rows (one spare, so Ink never scrolls the screen and
 * redraws in place) between the trouble panel, node rows, move rows and log lines, after the header (3),
 * the clients panel (2), three panel titles and the footer. `troubleCount` unacknowledged warnings
 * take a title and up to 3 lines first (they need the operator); of the rest nodes get what they need up to 40 %, moves up to
 * 55 % of the rest, the log the remainder (at least 2 lines when possible).
 */
export function screenRows(height: number, nodeCount: number, moveCount: number, troubleCount = 0): ScreenRows {
  const trouble = troubleCount === 0 ? 0 : 1 + Math.min(troubleCount, TROUBLE_ROWS_MAX)
  const free = Math.max(3, height - 1 - 3 - 2 - 3 - 1 - trouble)
  const nodes = Math.max(1, Math.min(Math.max(1, nodeCount), Math.floor(free * 0.4)))
  const rest = free - nodes
  const moves = Math.max(1, Math.min(Math.max(1, moveCount), Math.floor(rest * 0.55), rest - 2))
  return {trouble, nodes, moves, log: Math.max(0, rest - moves)}
}

/**
 * TopScreen lays the dashboard out for a `width` × `height` terminal: header, warnings of possible data loss (if any), clients and
 * copy sparklines, nodes, moves (or help), event log, footer — never taller than `height - 1` rows.
 */
export function TopScreen({view, width, height}: TopScreenProps) {
  const w = Math.max(40, width)
  const rows = screenRows(height, view.nodes.length, view.moves.length, view.trouble.length)
  return (
    <Box flexDirection="column" width={w}>
      <Header header={view.header} width={w} />
      <TroublePanel trouble={view.trouble} width={w} maxRows={rows.trouble - 1} />
      <ClientsPanel clients={view.clients} width={w} />
      <NodesPanel nodes={view.nodes} width={w} maxRows={rows.nodes} />
      {view.ui.help ? (
        <HelpPanel width={w} maxRows={rows.moves + rows.log + 2} />
      ) : (
        <>
          <MovesPanel moves={view.moves} width={w} maxRows={rows.moves} />
          <EventLog lines={view.log} maxRows={rows.log} width={w} />
        </>
      )}
      <Footer confirm={view.confirm} paused={view.header.executor.pausedFlag} width={w} />
    </Box>
  )
}
