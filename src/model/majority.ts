/**
 * majority is the smallest count that is more than half of `n` (at least 1): the default
 * quorum of a shard of `n` voters (src/router/quorum.ts), and the part of the write floor
 * a router without `--w` stands for (writeFloor.ts). Here, not in the router, so the pure
 * floor logic needs nothing of the router's.
 */
export function majority(n: number): number {
  return Math.max(1, Math.floor(n / 2) + 1)
}
