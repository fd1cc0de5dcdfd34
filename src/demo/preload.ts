import {errorMessage, UserError} from '../errors/errors.js'
import {abortableSleep} from '../clock/abortableSleep.js'
import {type RouterCredentials, RouterClient} from '../router/routerClient.js'

/** PUT_ATTEMPTS bounds the tries of one preload write. */
const PUT_ATTEMPTS = 5

/** PreloadOptions size the data the demo writes before its story starts. */
export interface PreloadOptions {
  router: string
  /** credentials: TLS and the user's token of a secured router (none: plaintext). */
  credentials: RouterCredentials
  /** bytes of values to write in all (each replica stores them). */
  bytes: number
  valueBytes: number
  concurrency: number
  /** maxMs bounds the load in time, whatever happens. */
  maxMs: number
}

/**
 * preloadData writes `bytes / valueBytes` keys (`d<i>`, spread over every shard by their
 * hash) through the router, `concurrency` at a time, reporting the bytes written about
 * every MiB. Throws INTERNAL when a write fails PUT_ATTEMPTS times or when `maxMs` passes; PRECONDITION when `signal` fires.
 */
export async function preloadData(opts: PreloadOptions, signal: AbortSignal, progress: (bytes: number) => void): Promise<{keys: number; bytes: number; ms: number}> {
  const started = Date.now()
  const keys = Math.max(1, Math.ceil(opts.bytes / opts.valueBytes))
  const client = new RouterClient(opts.router, 10_000, opts.concurrency, opts.credentials)
  const value = Buffer.alloc(opts.valueBytes, 'd')
  let next = 0
  let written = 0
  let reported = 0
  const worker = async () => {
    while (next < keys) {
      if (signal.aborted) throw new UserError('INTERRUPTED', 'demo interrupted', 'nothing was left running')
      if (Date.now() - started > opts.maxMs) throw new UserError('INTERNAL', `loading the demo's data took over ${Math.round(opts.maxMs / 1000)} s (${written} of ${opts.bytes} bytes)`, 'the machine is too busy; try --preload with less data')
      const i = next++
      // A PUT is idempotent: retry a few times, since freshly started processes on a busy
      // machine can miss the router's node timeout (this is set-up, not the measured load).
      for (let attempt = 1; ; attempt++) {
        try {
          await client.put(`d${i}`, value)
          break
        } catch (err) {
          if (attempt >= PUT_ATTEMPTS) throw new UserError('INTERNAL', `loading the demo's data: PUT d${i} failed ${PUT_ATTEMPTS} times: ${errorMessage(err)}`)
          await abortableSleep(500 * attempt, signal)
        }
      }
      written += opts.valueBytes
      if (written - reported >= 1024 * 1024) {
        reported = written
        progress(written)
      }
    }
  }
  try {
    await Promise.all(Array.from({length: opts.concurrency}, worker))
  } finally {
    await client.close()
  }
  return {keys, bytes: written, ms: Date.now() - started}
}
