/** MemberHealth is the clock part of a node's or router's `/healthz` JSON. */
export interface MemberHealth {
  serving?: boolean
  /** clock is the member's wall clock (ms) when it answered. */
  clock?: number
  /** clockOk is its clock monitor's verdict (false: out of bounds, refusing writes). */
  clockOk?: boolean
  /** clockOffsetMs is its clock monitor's measured offset from its peers (null: not measured yet). */
  clockOffsetMs?: number | null
}

/** ClockReading is one `/healthz` answer and when (on this machine's clock) it was asked and answered. */
export interface ClockReading {
  sentAt: number
  receivedAt: number
  health: MemberHealth
}

/** SkewExpectation is the skew a scenario gave a member (libfaketime offset) and the verdict its clock monitor must reach. */
export interface SkewExpectation {
  offsetMs: number
  /** inBounds: the monitor must say ok (within the cluster's bound); false: out of bounds. */
  inBounds: boolean
}

/**
 * skewNotInEffect judges whether a skew given to a member is observably in effect: its
 * reported wall clock is off this machine's by about `offsetMs` (libfaketime really applies),
 * and its clock monitor has measured that offset from its peers and reached the expected
 * verdict. "About": within half the offset, widened by half the round trip (the reported
 * clock was read somewhere inside it). Returns undefined when in effect, else what is
 * missing, in one line (a scenario polls until undefined, and on timeout reports the last
 * reason). Pure.
 */
export function skewNotInEffect(reading: ClockReading, want: SkewExpectation): string | undefined {
  const {health} = reading
  if (typeof health.clock !== 'number') return `no clock in /healthz: ${JSON.stringify(health)}`
  const rtt = Math.max(0, reading.receivedAt - reading.sentAt)
  const wall = Math.round(health.clock - (reading.sentAt + reading.receivedAt) / 2)
  const tolerance = Math.abs(want.offsetMs) / 2 + rtt / 2
  if (Math.abs(wall - want.offsetMs) > tolerance) return `its wall clock is ${wall} ms off ours, not ${want.offsetMs} ms (±${Math.round(tolerance)}): the skew is not applied`
  const measured = health.clockOffsetMs
  if (measured === undefined || measured === null) return `its clock monitor has not measured its offset yet (wall clock ${wall} ms off ours)`
  if (Math.abs(measured - want.offsetMs) > Math.abs(want.offsetMs) / 2) return `its clock monitor measures ${measured} ms, not ${want.offsetMs} ms (±${Math.abs(want.offsetMs) / 2})`
  if (health.clockOk !== want.inBounds) return `its clock monitor measures ${measured} ms but says ${health.clockOk === undefined ? 'nothing' : health.clockOk ? 'in bounds' : 'out of bounds'}, want ${want.inBounds ? 'in bounds' : 'out of bounds (refusing writes)'}`
  return undefined
}
