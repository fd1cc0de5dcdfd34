/**
 * The etcd key layout, all under `/shardctl/<cluster>/` (see README "etcd layout").
 * Shard ids are zero-padded so a prefix listing returns shards in id order.
 */
export const ROOT = '/shardctl/'

/** clusterPrefix is the prefix every key of `cluster` starts with. */
export function clusterPrefix(cluster: string): string {
  return `${ROOT}${cluster}/`
}

/** keysOf returns the key builders for one cluster. */
export function keysOf(cluster: string) {
  const p = clusterPrefix(cluster)
  return {
    prefix: p,
    meta: `${p}meta`,
    nodesPrefix: `${p}nodes/`,
    node: (id: string) => `${p}nodes/${id}`,
    /** claim is `claims/<id>`: the last process that registered node `<id>` from start-up and its data dir (see NodeClaimSchema; outside nodes/, whose every key is a node record). */
    claim: (id: string) => `${p}claims/${id}`,
    /** mark is `marks/<id>`: the write mark node `<id>` last made durable in its data dir and then published (see NodeMarkSchema; a dir that starts behind it was restored or lost writes). */
    mark: (id: string) => `${p}marks/${id}`,
    alivePrefix: `${p}alive/`,
    alive: (id: string) => `${p}alive/${id}`,
    shardsPrefix: `${p}shards/`,
    shard: (id: number) => `${p}shards/${String(id).padStart(8, '0')}`,
    /** censusPrefix holds the shard census: `census/base` and one `census/d/<uuid>` delta per shard write (see src/cluster/shardCensus.ts). */
    censusPrefix: `${p}census/`,
    censusBase: `${p}census/base`,
    censusDelta: (id: string) => `${p}census/d/${id}`,
    statsPrefix: `${p}stats/`,
    stats: (node: string) => `${p}stats/${node}`,
    /** loadsPrefix holds each node's per-replica load in pages: `loads/<node>/<page>`, page zero-padded (see src/stats/statsPages.ts). */
    loadsPrefix: `${p}loads/`,
    nodeLoads: (node: string) => `${p}loads/${node}/`,
    loadPage: (node: string, page: number) => `${p}loads/${node}/${String(page).padStart(4, '0')}`,
    routersPrefix: `${p}routers/`,
    /** writeFloor is the smallest write quorum any router has ever run with (not leased; only lowered: src/router/writeFloorRecord.ts). Outside routers/, whose entries are all registrations. */
    writeFloor: `${p}write-floor`,
    router: (id: string) => `${p}routers/${id}`,
    /** routerLatencyPrefix holds each router's short-window client p99 (`latency/routers/<id>`, leased, rewritten every second; see src/router/latencyPublisher.ts). */
    routerLatencyPrefix: `${p}latency/routers/`,
    routerLatency: (id: string) => `${p}latency/routers/${id}`,
    movesPrefix: `${p}moves/`,
    move: (id: string) => `${p}moves/${id}`,
    /** recordingPrefix holds the list of a plan's moves while apply records them in several transactions: `recording/<plan>/<page>` (see src/executor/moveRecording.ts). */
    recordingPrefix: `${p}recording/`,
    recordingOf: (plan: string) => `${p}recording/${plan}/`,
    // 10 digits, so keys sort in page order at any page count a plan can have (4 digits put page 10000 between 1000 and 1001); readers order pages by their `page` field, so lists written with 4 digits by older builds read the same.
    recordingPage: (plan: string, page: number) => `${p}recording/${plan}/${String(page).padStart(10, '0')}`,
    executorLock: `${p}lock/executor`,
    control: `${p}control`,
    constraints: `${p}constraints`,
    /** token is the cluster's shared data-plane secret (nodes, routers, executor authenticate with it). */
    token: `${p}secrets/token`,
  }
}

/** ClusterKeys is the key builder set of one cluster. */
export type ClusterKeys = ReturnType<typeof keysOf>

/** lastSegment returns the part of a key after its last `/`. */
export function lastSegment(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1)
}
