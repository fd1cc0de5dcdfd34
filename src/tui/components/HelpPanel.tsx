import {Box, Text} from 'ink'

/** HelpPanelProps: the width and how many rows the panel may use. */
export interface HelpPanelProps {
  width: number
  maxRows: number
}

const HELP: [string, string][] = [
  ['p', 'pause or resume every move and the autopilot (the executor follows within a second)'],
  ['+ / -', 'double / halve the global copy throttle (- from unlimited starts at the current rate)'],
  ['↑ / ↓', 'select a move'],
  ['c', 'cancel the selected move (asks y/N; only before its cutover)'],
  ['?', 'show or hide this help'],
  ['q', 'quit (a running executor stops cleanly; `apply --resume` continues)'],
  ['', 'Bars: 1.00 = the cluster mean; green within 10 %, yellow within 25 %, red beyond.'],
  ['', 'Without a terminal, use `--json` or `shardctl moves list`.'],
]

/** HelpPanel explains the keys and the colours. */
export function HelpPanel({width, maxRows}: HelpPanelProps) {
  return (
    <Box flexDirection="column" width={width}>
      <Text bold>HELP</Text>
      {HELP.slice(0, Math.max(0, maxRows - 1)).map(([k, text]) => (
        <Text key={text} wrap="truncate-end">
          <Text bold>{k.padEnd(6)}</Text> {text}
        </Text>
      ))}
    </Box>
  )
}
