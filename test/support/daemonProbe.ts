import {connect} from 'node:net'
import {type CliChild} from './cliChild.js'

/** pollUntil calls `probe` every few milliseconds until it is true (bounded: 45 s; fails with the child's log, or when the child exits first). */
export async function pollUntil(child: CliChild, what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 45_000
  while (Date.now() < deadline) {
    if (child.gone()) throw new Error(`the process exited before ${what}: ${child.logs().slice(-2000)}`)
    if (await probe().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 2))
  }
  throw new Error(`timed out waiting for ${what}: ${child.logs().slice(-2000)}`)
}

/** listening tells whether something accepts TCP connections on 127.0.0.1:`port`. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** exitedWithin resolves with the child's exit code, or 'still running' after `ms` (the caller's test then fails and kills it). */
export function exitedWithin(child: CliChild, ms: number): Promise<number | string> {
  return Promise.race([child.exited, new Promise<string>((r) => setTimeout(() => r('still running'), ms))])
}
