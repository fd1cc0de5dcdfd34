import {existsSync} from 'node:fs'

/** FAKETIME_LIB is Debian's libfaketime (package `faketime`; `.ci/run` installs it). */
export const FAKETIME_LIB = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'].find((p) => existsSync(p))

/**
 * skewedClock returns the environment that runs a child process with its wall clock
 * `offsetMs` off the machine's (libfaketime's relative offset, e.g. `+2s`, `-0.3s`).
 * Throws when libfaketime is missing, so a skew test can never pass by not skewing.
 */
export function skewedClock(offsetMs: number): Record<string, string> {
  if (!FAKETIME_LIB) throw new Error('libfaketime is not installed: `apt-get install faketime` (.ci/run does)')
  const seconds = offsetMs / 1000
  return {LD_PRELOAD: FAKETIME_LIB, FAKETIME: `${seconds >= 0 ? '+' : ''}${seconds}s`, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1'}
}
