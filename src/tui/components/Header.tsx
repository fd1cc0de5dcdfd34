import {Box, Text} from 'ink'
import {type HeaderView} from '../topView.js'

/** HeaderProps: the header's figures and the screen width. */
export interface HeaderProps {
  header: HeaderView
  width: number
}

const CONNECTION_TEXT: Record<HeaderView['connection'], {text: string; color: string}> = {
  connecting: {text: 'connecting…', color: 'yellow'},
  connected: {text: 'connected', color: 'green'},
  reconnecting: {text: 'etcd DOWN — reconnecting', color: 'red'},
  resyncing: {text: 'resyncing', color: 'yellow'},
}

/**
 * Header is three lines: cluster, etcd endpoint and connection; nodes up/down, shards
 * (moving, and in red those under-replicated: fewer voters on live nodes than rf), rf and
 * imbalance now against the target; executor state, holder and throttle (plus the caller's
 * stage, e.g. the demo's step).
 */
export function Header({header: h, width}: HeaderProps) {
  const conn = CONNECTION_TEXT[h.connection]
  const down = h.connection !== 'connected' && h.downForSeconds > 0 ? ` ${h.downForSeconds}s` : ''
  const imbalanceColor = h.imbalance === null ? 'gray' : h.imbalance <= h.target ? 'green' : 'red'
  const execColor = h.executor.state === 'running' ? 'green' : h.executor.state === 'paused' ? 'yellow' : 'gray'
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate-end">
        <Text bold>shardctl top</Text> · cluster <Text bold>{h.cluster}</Text> · <Text color={conn.color}>{conn.text}{down}</Text> · etcd {h.endpoint}
      </Text>
      <Text wrap="truncate-end">
        nodes <Text color="green">{h.nodesUp} up</Text>
        {h.nodesDown > 0 ? <Text color="red"> {h.nodesDown} down</Text> : <Text> 0 down</Text>} · shards {h.censusKnown ? h.shards : '? (no census: run cluster recount)'}
        {h.movingShards > 0 ? ` (${h.movingShards} moving)` : ''}
        {h.underReplicatedShards > 0 ? <Text color="red"> · {h.underReplicatedShards} under-replicated</Text> : ''}
        {h.replicasOnDownNodes > 0 ? <Text color="red"> · {h.replicasOnDownNodes} replicas on down nodes</Text> : ''} · rf {h.rf ?? '?'} · imbalance <Text color={imbalanceColor}>{h.imbalance === null ? 'n/a' : `${h.imbalance.toFixed(2)}x`}</Text> (target {h.target.toFixed(2)}x)
      </Text>
      <Text wrap="truncate-end">
        executor <Text color={execColor}>{h.executor.state}</Text>
        {h.executor.holder ? ` ${h.executor.holder}` : ''}
        {h.executor.state === 'idle' && h.executor.pausedFlag ? ' (paused for the next run)' : ''} · throttle {h.throttle}
        {h.stage ? <Text color="cyan"> · {h.stage}</Text> : ''}
      </Text>
    </Box>
  )
}
