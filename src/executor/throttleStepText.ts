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
