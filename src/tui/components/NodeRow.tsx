import {Box, Text} from 'ink'
import {STALE_MARK} from '../../cluster/loadStaleness.js'
import {type NodeRowView} from '../topView.js'
import {Bar} from './Bar.js'
import {utilisationColor} from './utilisationColor.js'

/** NodeRowProps: one node, the width of each resource bar (0: overall bar only) and the bar scale. */
export interface NodeRowProps {
  node: NodeRowView
  barWidth: number
  scale: number
  /** compact shows one overall bar instead of one per resource (narrow terminals). */
  compact: boolean
}

const RESOURCE_LABELS = [
  ['reads', 'R'],
  ['writes', 'W'],
  ['bytes', 'B'],
] as const

/** badge is the node's state badge: DOWN beats draining beats cordoned. */
function badge(n: NodeRowView): {text: string; color: string} {
  if (n.down) return {text: 'DOWN', color: 'red'}
  if (n.state === 'draining') return {text: 'draining', color: 'magenta'}
  if (n.state === 'cordoned') return {text: 'cordoned', color: 'yellow'}
  return {text: 'up', color: 'green'}
}

/**
 * NodeRow is one node: id, state badge, replica count, a utilisation bar per resource
 * (reads, writes, bytes; 1.00 = the cluster mean) coloured by distance from the mean, and
 * the overall utilisation, then STALE_MARK when the load those figures come from predates the
 * shard map's latest change for the node (NodesPanel explains the mark).
 */
export function NodeRow({node, barWidth, scale, compact}: NodeRowProps) {
  const b = badge(node)
  const u = node.utilisation
  return (
    <Box>
      <Text wrap="truncate-end">
        {node.id.padEnd(6).slice(0, 6)} <Text color={b.color}>{b.text.padEnd(8)}</Text> {String(node.replicas).padStart(3)}r{' '}
        {compact || !node.perResource ? (
          <>
            <Bar value={u ?? 0} scale={scale} width={barWidth} color={utilisationColor(u)} target={1} />
          </>
        ) : (
          RESOURCE_LABELS.map(([res, label]) => (
            <Text key={res}>
              {label} <Bar value={node.perResource![res]} scale={scale} width={barWidth} color={utilisationColor(node.perResource![res])} /> {node.perResource![res].toFixed(2)}{' '}
            </Text>
          ))
        )}
        <Text bold color={utilisationColor(u)}>
          {' '}
          {u === null ? '  n/a' : `${u.toFixed(2)}x`}
        </Text>
        {node.loadStale ? <Text color="yellow">{STALE_MARK}</Text> : null}
      </Text>
    </Box>
  )
}
