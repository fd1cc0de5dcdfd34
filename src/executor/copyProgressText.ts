import {formatBytes} from '../model/units.js'

/**
 * describeCopied renders how much of a move's copy is done, for `moves show` and the
 * executor's progress lines: "copied 4.0 KiB (12 keys) of ~1.0 MiB". `totalBytes` is the
 * plan's estimate from load stats, so it can be 0 (no stats yet) or smaller than what the
 * copy meets (writes since); the text then leaves the estimate out, or says the copy went
 * past it, rather than claim "4 B of ~0 B".
 */
export function describeCopied(p: {bytes: number; keys: number; totalBytes: number}): string {
  const copied = `copied ${formatBytes(p.bytes)} (${p.keys} ${p.keys === 1 ? 'key' : 'keys'})`
  if (!(p.totalBytes > 0)) return copied
  if (p.bytes > p.totalBytes) return `${copied}, past the ~${formatBytes(p.totalBytes)} estimate`
  return `${copied} of ~${formatBytes(p.totalBytes)}`
}

/**
 * describeCopyProgress renders a copy's progress line for `moves show` and the executor's
 * progress events: {@link describeCopied}, the rate of those same key and value bytes, the
 * ETA when one is known and a stall: "copied 4.0 KiB (12 keys) of ~1.0 MiB, 2.0 KiB/s, ETA
 * 5s". The stream's rate (versions, framing: what the throttles spend) is a different unit
 * and belongs beside a throttle, not here.
 */
export function describeCopyProgress(p: {bytes: number; keys: number; totalBytes: number; dataRateBytesPerSec: number; stalled: boolean}, etaSeconds: number | null): string {
  return `${describeCopied(p)}, ${formatBytes(Math.round(p.dataRateBytesPerSec))}/s${etaSeconds === null ? '' : `, ETA ${etaSeconds}s`}${p.stalled ? ' — STALLED' : ''}`
}
