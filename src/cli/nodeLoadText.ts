import {type NodeLoad} from '../cluster/nodeService.js'
import {formatBytes} from '../model/units.js'

/**
 * nodeLoadLine is `node show`'s line of what the node last published about its load, or that
 * it publishes nothing. The node names its replicas as of its last publish; when the map gives
 * it another number of them now (a move took one on or off since, and the node has not
 * published again yet: it does as soon as it sees the change), the line says so, rather than
 * pass figures of a replica the node no longer holds for what it holds now. Pure.
 */
export function nodeLoadLine(load: NodeLoad | null, mapReplicas: number): string {
  if (!load) return 'load: not published (the node is down or not serving yet)'
  const figures = `load at ${load.at}: ${load.reads.toFixed(1)} reads/s, ${load.writes.toFixed(1)} writes/s, ${formatBytes(load.bytes)} in ${load.keys} keys over ${load.replicas} replicas`
  const behind = load.replicas === mapReplicas ? '' : ` (published before the shard map's latest change: it gives the node ${mapReplicas} replicas now; the node publishes again once it sees the change)`
  const clock = load.clockOk === false ? `; CLOCK OFF by ${load.clockOffsetMs ?? '?'} ms (refusing writes)` : ''
  return `${figures}${behind}${clock}`
}
