import {type NodeState} from './node.js'

/**
 * closedDestination (pure) returns why node `to`, in `state`, may not receive a new replica,
 * or undefined when it may: a `cordoned` node takes none (`node cordon`: "stop placing new
 * replicas"), nor does a `draining` one (it is being emptied; the autopilot marks a dead node
 * so). The planner never picks either as a destination, but a plan made before the node was
 * cordoned or drained does, and its move still passes every shard check: draining or cordoning a
 * node changes no epoch of a shard it does not hold. So `apply` (preflight, and a move's
 * `pending`/`checked` steps) and `plan verify` call such a move stale with this reason; until
 * session 35 an old CI plan filled a node emptied since (`node remove` then refused it) or one
 * cordoned for maintenance.
 */
export function closedDestination(to: string, state: NodeState | undefined): string | undefined {
  if (state === 'cordoned') return `destination node "${to}" is cordoned: it takes no new replicas (\`shardctl node uncordon ${to}\` to allow them)`
  if (state === 'draining') return `destination node "${to}" is draining: it takes no new replicas (\`shardctl node uncordon ${to}\` to abandon the drain)`
  return undefined
}
