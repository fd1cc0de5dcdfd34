import {Box, Text} from 'ink'
import {type LogLine} from '../topState.js'

/** EventLogProps: the log, how many lines fit and the width. */
export interface EventLogProps {
  lines: readonly LogLine[]
  maxRows: number
  width: number
}

const LEVEL_COLORS = {info: undefined, warn: 'yellow', error: 'red'} as const

/** clockTime renders ms as local HH:MM:SS. */
function clockTime(at: number): string {
  const d = new Date(at)
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':')
}

/** EventLog shows the last `maxRows` events (phase changes, retries, errors), newest last. */
export function EventLog({lines, maxRows, width}: EventLogProps) {
  const shown = maxRows > 0 ? lines.slice(-maxRows) : []
  return (
    <Box flexDirection="column" width={width}>
      <Text bold>EVENTS</Text>
      {shown.map((l, i) => (
        <Text key={`${l.at}-${i}`} wrap="truncate-end" color={LEVEL_COLORS[l.level]}>
          <Text dimColor>{clockTime(l.at)}</Text> {l.text}
        </Text>
      ))}
    </Box>
  )
}
