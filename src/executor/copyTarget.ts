/** CopyPasses is what a destination reports of how its copy reads the range (PullStatus in node/copyPuller.ts). */
export interface CopyPasses {
  /** passes: sources read now, each from where they start to the range's end. */
  passes: number
  /** carriedDataBytes: key and value bytes applied before these sources were named. */
  carriedDataBytes: number
  /** prefixDataBytes: the range's key and value bytes below where these sources start. */
  prefixDataBytes: number
}

/**
 * expectedCopyBytes is about how many key and value bytes a copy applies in all, given the
 * plan's estimate of the shard's size (`plannedBytes`, one copy of its data): the bytes it
 * applied before its sources changed, plus, for each source it reads now, the part of the
 * range those sources start at. Usually that is the estimate itself; a heal whose source is
 * down reads each live replica whole (merged by LWW), so with two of them it is twice the
 * estimate, which is why such a copy's bytes ran to 200 % of `totalBytes` (session 26).
 * 0 when the size is unknown (`plannedBytes` 0).
 */
export function expectedCopyBytes(plannedBytes: number, p: CopyPasses): number {
  if (!(plannedBytes > 0)) return 0
  return Math.round(p.carriedDataBytes + Math.max(1, p.passes) * Math.max(0, plannedBytes - p.prefixDataBytes))
}
