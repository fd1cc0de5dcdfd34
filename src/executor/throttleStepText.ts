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
 * describeFloorBound tells the operator, once per episode, that `--throttle auto` cut the copy
 * to its floor and the clients' p99 stayed over the target: slowing the copy cannot meet it.
 */
export function describeFloorBound(signal: string, targetP99Ms: number, floorBytesPerSec: number, bound: {readings: number; p99Ms: number}): string {
  return (
    `auto throttle: ${signal} stayed over the target ${targetP99Ms.toFixed(1)} ms (last ${bound.p99Ms.toFixed(1)} ms) for ${bound.readings} readings in a row with the copy at its ${formatBytes(Math.round(floorBytesPerSec))}/s floor: ` +
    'slowing the copy cannot meet the target (what the clients feel is the move itself, such as writes also going to the new replica, or load that is not the copy\'s); ' +
    'the copy goes on at the floor. To copy faster, raise --max-client-p99 or move when the load is lower'
  )
}
