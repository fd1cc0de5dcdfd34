import {Box, Text} from 'ink'
import {formatBytes} from '../../model/units.js'
import {sparkline} from '../sparkline.js'
import {type ClientsView} from '../topView.js'

/** ClientsPanelProps: the clients' and copy figures and the screen width. */
export interface ClientsPanelProps {
  clients: ClientsView
  width: number
}

function rate(bytesPerSec: number): string {
  return `${formatBytes(Math.round(bytesPerSec))}/s`
}

/**
 * ClientsPanel is two lines, each a figure now and a sparkline of the last minutes (one
 * cell a second, newest right): CLIENTS — requests/s, p99 and errors as the routers
 * report them, so a rebalance's effect on clients is seen while it runs; COPY — the
 * cluster's copy rate drawn against the throttle (a full bar is the throttle), so `+`/`-`
 * and `p` show at once.
 */
export function ClientsPanel({clients: c, width}: ClientsPanelProps) {
  const req = c.reqPerSec === null ? '   n/a' : c.reqPerSec.toFixed(0).padStart(6)
  const p99 = c.p99Ms === null ? '  n/a' : `${c.p99Ms < 10 ? c.p99Ms.toFixed(1) : c.p99Ms.toFixed(0)} ms`.padStart(8)
  const head = `CLIENTS  ${req} req/s `
  const mid = ` p99 ${p99} `
  const tail = ` errors ${c.errors}`
  // Two sparklines share what the figures leave; each gets at least 8 cells.
  const sparkWidth = Math.max(8, Math.floor((width - head.length - mid.length - tail.length - 1) / 2))
  const reqLine = sparkline(c.series.map((s) => s.reqPerSec), sparkWidth)
  const p99Line = sparkline(c.series.map((s) => s.p99Ms), sparkWidth)
  const copyHead = `COPY     ${rate(c.copyRate).padStart(12)} of ${c.throttle === null ? 'unlimited' : rate(c.throttle)} `
  const copyWidth = Math.max(8, width - copyHead.length - 1)
  const copyScale = Math.max(1, c.throttle ?? 0, ...c.series.slice(-copyWidth).map((s) => Math.max(s.copyRate, s.throttle ?? 0)))
  const copyLine = sparkline(c.series.map((s) => s.copyRate), copyWidth, copyScale)
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate-end">
        <Text bold>CLIENTS</Text>
        {head.slice('CLIENTS'.length)}
        <Text color="cyan">{reqLine.padEnd(sparkWidth)}</Text>
        {mid}
        <Text color="cyan">{p99Line.padEnd(sparkWidth)}</Text>
        <Text color={c.errors > 0 ? 'red' : 'green'}>{tail}</Text>
        {c.routers === 0 ? <Text dimColor> (no router registered)</Text> : null}
      </Text>
      <Text wrap="truncate-end">
        <Text bold>COPY</Text>
        {copyHead.slice('COPY'.length)}
        <Text color="magenta">{copyLine}</Text>
      </Text>
    </Box>
  )
}
