import {type NodeLoad} from '../cluster/nodeService.js'
import {formatBytes} from '../model/units.js'

/**
 * nodeLoadLine is `node show`'s line of what the node last published about its load, or that
 * it publishes nothing. The node names its replicas as of its last publish; when those figures
 * predate the map (load.stale, as `node show --json` gives it: the map gives the node
 * `mapReplicas`, another number, now), the line says so, rather than pass figures of a replica
 * the node no longer holds for what it holds now. Pure.
 */
export function nodeLoadLine(load: NodeLoad | null, mapReplicas: number): string {
  if (!load) return 'load: not published (the node is down or not serving yet)'
  const figures = `load at ${load.at}: ${load.reads.toFixed(1)} reads/s, ${load.writes.toFixed(1)} writes/s, ${formatBytes(load.bytes)} in ${load.keys} keys over ${load.replicas} replicas`
  const behind = !load.stale ? '' : ` (published before the shard map's latest change: it gives the node ${mapReplicas} replicas now; the node publishes again once it sees the change)`
  const clock = load.clockOk === false ? `; CLOCK OFF by ${load.clockOffsetMs ?? '?'} ms (refusing writes)` : ''
  return `${figures}${behind}${clock}`
}
