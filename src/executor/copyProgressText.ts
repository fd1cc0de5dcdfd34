import {copyGoalBytes} from '../model/move.js'
import {formatBytes} from '../model/units.js'

/**
 * describeCopied renders how much of a move's copy is done, for `moves show` and the
 * executor's progress lines: "copied 4.0 KiB (12 keys) of ~1.0 MiB". `totalBytes` is the
 * plan's estimate from load stats, so it can be 0 (no stats yet) or smaller than what the
 * copy meets (writes since); the text then leaves the estimate out, or says the copy went
 * past it, rather than claim "4 B of ~0 B". A copy merged from several replicas (a heal whose
 * source is down) reads the shard from each, so its goal is `expectedBytes` (copyGoalBytes),
 * and the text says so: "copied 20 KiB (9 keys) of ~70 KiB (a ~35 KiB shard merged from
 * several replicas)".
 */
export function describeCopied(p: {bytes: number; keys: number; totalBytes: number; expectedBytes?: number | undefined}): string {
  const copied = `copied ${formatBytes(p.bytes)} (${p.keys} ${p.keys === 1 ? 'key' : 'keys'})`
  const goal = copyGoalBytes(p)
  if (!(goal > 0)) return copied
  // A copy merged from several replicas reads the shard from each: say why "of ~X" is more than the shard.
  const merged = p.totalBytes > 0 && goal > p.totalBytes ? ` (a ~${formatBytes(p.totalBytes)} shard merged from several replicas)` : ''
  if (p.bytes > goal) return `${copied}, past the ~${formatBytes(goal)} estimate${merged}`
  return `${copied} of ~${formatBytes(goal)}${merged}`
}

/**
 * describeCopyProgress renders a copy's progress line for `moves show` and the executor's
 * progress events: {@link describeCopied}, the rate of those same key and value bytes, the
 * ETA when one is known and a stall: "copied 4.0 KiB (12 keys) of ~1.0 MiB, 2.0 KiB/s, ETA
 * 5s". The stream's rate (versions, framing: what the throttles spend) is a different unit
 * and belongs beside a throttle, not here.
 */
export function describeCopyProgress(p: {bytes: number; keys: number; totalBytes: number; expectedBytes?: number | undefined; dataRateBytesPerSec: number; stalled: boolean}, etaSeconds: number | null): string {
  return `${describeCopied(p)}, ${formatBytes(Math.round(p.dataRateBytesPerSec))}/s${etaSeconds === null ? '' : `, ETA ${etaSeconds}s`}${p.stalled ? ' — STALLED' : ''}`
}
