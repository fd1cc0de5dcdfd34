import {Box, Text} from 'ink'
import {STALE_MARK} from '../../cluster/loadStaleness.js'
import {type NodeRowView} from '../topView.js'
import {NodeRow} from './NodeRow.js'

/** STALE_NOTE explains STALE_MARK once, in the panel's title line, while a row shown carries it. */
export const STALE_NOTE = `${STALE_MARK} load from before the map's latest change (over other replicas)`

/** NodesPanelProps: the nodes, the screen width and how many rows the panel may use for nodes. */
export interface NodesPanelProps {
  nodes: NodeRowView[]
  width: number
  maxRows: number
}

/** FIXED_COLUMNS is what a node row takes besides its bars (id, badge, replicas, labels, figures). */
const FIXED_COLUMNS = 28

/**
 * NodesPanel lists nodes (all when they fit `maxRows`, else the ones furthest from the
 * mean, down nodes first, with a "more" line). Bars share the width: one per resource
 * when each can be at least 6 cells, else one overall bar. A node whose load predates the
 * shard map's latest change is marked (NodeRow), and the title line says what the mark means.
 */
export function NodesPanel({nodes, width, maxRows}: NodesPanelProps) {
  const perResource = Math.min(20, Math.floor((width - FIXED_COLUMNS - 3 * 8) / 3))
  const compact = perResource < 6
  const barWidth = compact ? Math.max(4, Math.min(40, width - FIXED_COLUMNS - 2)) : perResource
  const scale = Math.max(2, ...nodes.flatMap((n) => [n.utilisation ?? 0, ...(n.perResource ? [n.perResource.reads, n.perResource.writes, n.perResource.bytes] : [])]))
  const shown = nodes.length <= maxRows ? nodes : pickShown(nodes, Math.max(1, maxRows - 1))
  const hidden = nodes.length - shown.length
  return (
    <Box flexDirection="column" width={width}>
      <Text bold wrap="truncate-end">
        NODES <Text dimColor>utilisation per resource, 1.00 = cluster mean{compact ? ' (overall)' : ' (R reads, W writes, B bytes)'}</Text>
        {shown.some((n) => n.loadStale) ? <Text color="yellow"> {STALE_NOTE}</Text> : null}
      </Text>
      {nodes.length === 0 ? <Text dimColor>no nodes registered</Text> : null}
      {shown.map((n) => (
        <NodeRow key={n.id} node={n} barWidth={barWidth} scale={scale} compact={compact} />
      ))}
      {hidden > 0 ? <Text dimColor>… {hidden} more nodes closer to the mean</Text> : null}
    </Box>
  )
}

function pickShown(nodes: NodeRowView[], limit: number): NodeRowView[] {
  const rank = (n: NodeRowView) => (n.down ? 100 : n.state !== 'active' ? 50 : 0) + Math.abs((n.utilisation ?? 1) - 1)
  const keep = new Set([...nodes].sort((a, b) => rank(b) - rank(a)).slice(0, limit).map((n) => n.id))
  return nodes.filter((n) => keep.has(n.id))
}
