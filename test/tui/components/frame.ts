/** plain strips ANSI escapes from a rendered frame. */
export function plain(frame: string | undefined): string {
  // eslint-disable-next-line no-control-regex
  return (frame ?? '').replace(/\x1b\[[0-9;]*m/g, '')
}

/** lines splits a frame into lines without trailing spaces. */
export function lines(frame: string | undefined): string[] {
  return plain(frame)
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''))
}
