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
