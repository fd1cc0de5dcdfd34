import {Box, Text} from 'ink'
import {type TroubleView} from '../topView.js'

/** TroublePanelProps: the unacknowledged warnings that wait for an operator (losses first), the width and how many item lines fit. */
export interface TroublePanelProps {
  trouble: readonly TroubleView[]
  width: number
  maxRows: number
}

/**
 * TroublePanel lists the moves' warnings no operator acknowledged that wait for one: those of
 * possible data loss, as `cluster status` lists them as trouble (red), then those that report no
 * loss but wait for a check (a redis slot held open, a restart window nobody could judge:
 * yellow, marked `not a loss`), so none waits unseen. A title, then one line per warning with its
 * way out first (the line is cut to the width; `moves show` has the whole text), and when more
 * than `maxRows` are open, how many more and where every one is listed. Nothing without any.
 */
export function TroublePanel({trouble, width, maxRows}: TroublePanelProps) {
  if (trouble.length === 0) return null
  const rows = Math.max(1, maxRows)
  const shown = trouble.length > rows ? trouble.slice(0, rows - 1) : trouble
  const losses = trouble.filter((t) => t.loss).length
  const checks = trouble.length - losses
  const title = [losses > 0 ? `${losses} warning(s) of possible data loss` : '', checks > 0 ? `${checks} waiting for a check (not a loss)` : ''].filter((x) => x !== '').join(', ')
  const hidden = trouble.slice(shown.length)
  // `cluster status` lists both kinds (those waiting for a check since session 41: redis's `checkWarnings`).
  const where = '`shardctl cluster status`'
  return (
    <Box flexDirection="column" width={width}>
      <Text bold color={losses > 0 ? 'red' : 'yellow'} wrap="truncate-end">
        TROUBLE <Text>{title} not acknowledged{checks === 0 ? ' (as cluster status)' : ''}</Text>
      </Text>
      {shown.map((t, i) =>
        t.loss ? (
          <Text key={`${i}-${t.move}`} color="red" wrap="truncate-end">
            ⚠ move {t.move} (shard {t.shard}, {t.phase}): check the keys, then `shardctl moves ack {t.move}` — {t.text}
          </Text>
        ) : (
          <Text key={`${i}-${t.move}`} color="yellow" wrap="truncate-end">
            ⚠ move {t.move} (shard {t.shard}, {t.phase}): not a loss, check it, then `shardctl moves ack {t.move}` — {t.text}
          </Text>
        ),
      )}
      {hidden.length > 0 ? <Text color={losses > 0 ? 'red' : 'yellow'} wrap="truncate-end">… {hidden.length} more: {where} lists every one</Text> : null}
    </Box>
  )
}
