/**
 * Types for the `consistent-hash` package (CommonJS, ships none). Only what shardctl uses
 * is declared; wrap it in src/placement/ring.ts rather than using it directly (because of
 * the package's quirks: random control points by default, `add` after `remove` throws,
 * `get(k, n)` may return undefined entries).
 */
declare module 'consistent-hash' {
  interface ConsistentHashOptions {
    /** Size of the ring: control points and key positions lie in [0, range). */
    range?: number
    /** Default number of control points per node when `add` is given none. */
    controlPoints?: number
    weight?: number
    distribution?: 'random' | 'uniform'
    orderNodes?: (nodes: unknown[]) => unknown[]
  }

  class ConsistentHash<N = string> {
    constructor(options?: ConsistentHashOptions)
    nodeCount: number
    keyCount: number
    /** add places `node` at the explicit control `points` (or `n` random ones when points is absent). */
    add(node: N, n?: number, points?: number[]): this
    remove(node: N): this
    get(name: string): N | null
    get(name: string, count: number): (N | undefined)[] | null
    getNodes(): N[]
    getPoints(node: N): number[] | undefined
  }

  export = ConsistentHash
}
