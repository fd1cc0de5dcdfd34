import {formatBytes} from '../model/units.js'
import {type ExecutorEvent, type ThrottleStepEvent} from './executorEnv.js'

/** describeThrottleStep renders one `--throttle auto` step: the reading, then what it did to the rate. */
export function describeThrottleStep(ev: ThrottleStepEvent): string {
  const reading = ev.p99Ms === null ? `${ev.signal} unknown` : `${ev.signal} ${ev.p99Ms.toFixed(1)} ms (${ev.samples ?? 0} samples over ${((ev.windowMs ?? 0) / 1000).toFixed(1)} s, ${((ev.ageMs ?? 0) / 1000).toFixed(1)} s old)`
  const flowing = ev.flowingBytesPerSec === null ? '' : `, copies flowing at ${formatBytes(Math.round(ev.flowingBytesPerSec))}/s`
  const did = ev.action === 'raise' ? 'raised to' : ev.action === 'cut' ? 'cut to' : ev.action === 'hold' ? 'held at' : `held (${ev.action}) at`
  return `auto throttle: ${reading} vs target ${ev.targetP99Ms} ms${flowing} → copy rate ${did} ${formatBytes(Math.round(ev.rateBytesPerSec))}/s`
}

/** isRateChange is true for a `--throttle auto` step that changed the rate (the steps worth a line of their own). */
export function isRateChange(ev: ExecutorEvent): boolean {
  return ev.type === 'throttle' && (ev.action === 'raise' || ev.action === 'cut')
}

/**
 * describeFloorBound tells the operator (at most once a minute) that `--throttle auto` kept
 * asking for a copy slower than its floor: slowing the copy cannot meet the target.
 */
export function describeFloorBound(signal: string, targetP99Ms: number, floorBytesPerSec: number, bound: {over: number; of: number; p99Ms: number}): string {
  return (
    `auto throttle: ${signal} was over the target ${targetP99Ms.toFixed(1)} ms (last ${bound.p99Ms.toFixed(1)} ms) in ${bound.over} of the last ${bound.of} readings, each asking for a copy slower than its ${formatBytes(Math.round(floorBytesPerSec))}/s floor: ` +
    'slowing the copy cannot meet the target (what the clients feel is the move itself, such as writes also going to the new replica, or load that is not the copy\'s); ' +
    'the copy goes on at or near the floor. To copy faster, raise --max-client-p99 or move when the load is lower'
  )
}
