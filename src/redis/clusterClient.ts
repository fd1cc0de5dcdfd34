import {Cluster, type ClusterNode, type ClusterOptions, type Redis} from 'ioredis'

/**
 * openClusterClient is ioredis's cluster-aware client (it follows MOVED and ASK) with each
 * node connection's ASKING guarded (guardAsking). Every cluster client shardctl opens (the
 * demo's load, the tests' workloads) goes through here.
 */
export function openClusterClient(nodes: ClusterNode[], options?: ClusterOptions): Cluster {
  const client = new Cluster(nodes, options)
  client.on('+node', guardAsking)
  return client
}

/**
 * guardAsking handles the rejection of every ASKING `node` sends. ioredis 5 (cluster/index.js,
 * tryConnection) sends ASKING ahead of a command redirected by ASK and drops its promise: when
 * the target's connection closes with both in flight (the target killed or restarted while a
 * slot migrates to it), the redirected command fails and is retried as usual, but ASKING's own
 * "Connection is closed" is an unhandled rejection, which ends a Node 20 process. ASKING has
 * nothing to report that the command behind it on the same connection does not.
 */
export function guardAsking(node: Redis): void {
  const asking = node.asking.bind(node)
  node.asking = ((...args: Parameters<Redis['asking']>) => {
    const sent = asking(...args)
    sent.catch(() => undefined)
    return sent
  }) as Redis['asking']
}
