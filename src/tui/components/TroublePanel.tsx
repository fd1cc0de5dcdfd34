import {Box, Text} from 'ink'
import {type TroubleView} from '../topView.js'

/** TroublePanelProps: the unacknowledged warnings of possible data loss, the width and how many item lines fit. */
export interface TroublePanelProps {
  trouble: readonly TroubleView[]
  width: number
  maxRows: number
}

/**
 * TroublePanel lists the moves' warnings of possible data loss no operator acknowledged, as
 * `cluster status` lists them as trouble: a red title, then one line per warning with its way
 * out first (the line is cut to the width; `moves show` has the whole text), and when more
 * than `maxRows` are open, how many more and where every one is listed. Nothing without any.
 */
export function TroublePanel({trouble, width, maxRows}: TroublePanelProps) {
  if (trouble.length === 0) return null
  const rows = Math.max(1, maxRows)
  const shown = trouble.length > rows ? trouble.slice(0, rows - 1) : trouble
  return (
    <Box flexDirection="column" width={width}>
      <Text bold color="red" wrap="truncate-end">
        TROUBLE <Text>{trouble.length} warning(s) of possible data loss not acknowledged (as cluster status)</Text>
      </Text>
      {shown.map((t) => (
        <Text key={`${t.move}-${t.at}`} color="red" wrap="truncate-end">
          ⚠ move {t.move} (shard {t.shard}, {t.phase}): check the keys, then `shardctl moves ack {t.move}` — {t.text}
        </Text>
      ))}
      {shown.length < trouble.length ? <Text color="red" wrap="truncate-end">… {trouble.length - shown.length} more: `shardctl cluster status` lists every one</Text> : null}
    </Box>
  )
}
