/** MaintenanceWindow is a daily time window in local time, e.g. 01:00-05:00 (may wrap past midnight). */
export interface MaintenanceWindow {
  startMinute: number
  endMinute: number
}

/** parseWindow reads `HH:MM-HH:MM`. Throws RangeError naming the input when malformed. */
export function parseWindow(input: string): MaintenanceWindow {
  const m = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/.exec(input.trim())
  if (!m) throw new RangeError(`"${input}" is not a window; use HH:MM-HH:MM`)
  const [h1, m1, h2, m2] = m.slice(1).map(Number) as [number, number, number, number]
  if (h1 > 23 || h2 > 23 || m1 > 59 || m2 > 59) throw new RangeError(`"${input}" has an invalid time; hours 0-23, minutes 0-59`)
  const startMinute = h1 * 60 + m1
  const endMinute = h2 * 60 + m2
  if (startMinute === endMinute) throw new RangeError(`"${input}" is empty; start and end must differ`)
  return {startMinute, endMinute}
}

/** formatWindow renders a window as `HH:MM-HH:MM`, the form --window takes. */
export function formatWindow(w: MaintenanceWindow): string {
  const hhmm = (minute: number) => `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`
  return `${hhmm(w.startMinute)}-${hhmm(w.endMinute)}`
}

/** inWindow tells whether `date` (local time) falls inside `w`; a window wrapping midnight works. */
export function inWindow(w: MaintenanceWindow, date: Date): boolean {
  const minute = date.getHours() * 60 + date.getMinutes()
  return w.startMinute < w.endMinute ? minute >= w.startMinute && minute < w.endMinute : minute >= w.startMinute || minute < w.endMinute
}
