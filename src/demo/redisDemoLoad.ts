import {type Cluster} from 'ioredis'

/** RedisLoadCounters are the client load's outcome so far. */
export interface RedisLoadCounters {
  requests: number
  errors: number
  /** worstMs is the slowest request (a MOVED/ASK redirect included). */
  worstMs: number
  /** firstErrors are the first few error messages, for the summary. */
  firstErrors: string[]
}

/** RedisLoadOptions shape the load: which keys, how skewed, how fast, for how long at most. */
export interface RedisLoadOptions {
  keys: readonly string[]
  /** hot are indices into `keys` that take `hotShare` of the operations. */
  hot: readonly number[]
  hotShare: number
  /** valueBytes is the size of the value written to keys[i]. */
  valueBytes: (i: number) => number
  workers: number
  opsPerSecond: number
  /** writeShare of operations are SETs, the rest GETs. */
  writeShare: number
  maxOps: number
  maxMs: number
}

/**
 * RedisDemoLoad is a bounded cluster-aware client load (ioredis follows MOVED and ASK): at
 * most `maxOps` operations within `maxMs`, paced to `opsPerSecond`. Each worker owns the keys
 * whose index is its number modulo `workers`, so a key's writes come from one sequential
 * worker and the value it last wrote is the one the cluster must serve; `expected` keeps it.
 */
export class RedisDemoLoad {
  /** expected maps every key written to the value the cluster must return for it. */
  readonly expected = new Map<string, string>()
  private readonly c: RedisLoadCounters = {requests: 0, errors: 0, worstMs: 0, firstErrors: []}
  private stopped = false
  private readonly done: Promise<void[]>

  constructor(client: Cluster, opts: RedisLoadOptions) {
    const deadline = Date.now() + opts.maxMs
    const perWorker = Math.ceil(opts.maxOps / opts.workers)
    const intervalMs = (1000 * opts.workers) / opts.opsPerSecond
    this.done = Promise.all(
      Array.from({length: opts.workers}, async (_, w) => {
        const mine = opts.keys.map((_k, i) => i).filter((i) => i % opts.workers === w)
        const mineHot = opts.hot.filter((i) => i % opts.workers === w)
        // A fixed seed per worker: the same run issues the same operations.
        let seed = 0x9e3779b9 ^ (w + 1)
        const random = () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32)
        const started = Date.now()
        for (let n = 0; n < perWorker && !this.stopped && Date.now() < deadline && mine.length > 0; n++) {
          const pool = mineHot.length > 0 && random() < opts.hotShare ? mineHot : mine
          const i = pool[Math.floor(random() * pool.length)] ?? 0
          const key = opts.keys[i] ?? ''
          const t0 = performance.now()
          try {
            if (random() < opts.writeShare) {
              const value = valueFor(key, n, opts.valueBytes(i))
              await client.set(key, value)
              this.expected.set(key, value)
            } else await client.get(key)
          } catch (err) {
            if (this.c.errors++ < 5) this.c.firstErrors.push(`${key}: ${(err as Error).message}`)
          }
          this.c.requests++
          this.c.worstMs = Math.max(this.c.worstMs, performance.now() - t0)
          const wait = started + (n + 1) * intervalMs - Date.now()
          if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, 1000)))
        }
      }),
    )
  }

  /** counters is a copy of the counters so far. */
  counters(): RedisLoadCounters {
    return {...this.c, firstErrors: [...this.c.firstErrors]}
  }

  /** stop ends the load and returns its final counters. */
  async stop(): Promise<RedisLoadCounters> {
    this.stopped = true
    await this.done
    return this.counters()
  }
}

/** valueFor is the `n`th value written to `key`, `bytes` long (at least the key and n). */
export function valueFor(key: string, n: number, bytes: number): string {
  const head = `${key}#${n}:`
  return head + 'v'.repeat(Math.max(0, bytes - head.length))
}

/**
 * verifyValues reads every key of `expected` back through `client` (in chunks of 500) and
 * returns how many did not read their expected value, with the first few.
 */
export async function verifyValues(client: Cluster, expected: ReadonlyMap<string, string>): Promise<{checked: number; mismatched: number; examples: string[]}> {
  const entries = [...expected]
  let mismatched = 0
  const examples: string[] = []
  for (let i = 0; i < entries.length; i += 500) {
    const chunk = entries.slice(i, i + 500)
    const got = await Promise.all(chunk.map(([k]) => client.get(k).catch((err: Error) => `error: ${err.message}`)))
    chunk.forEach(([k, v], j) => {
      if (got[j] !== v && mismatched++ < 5) examples.push(`${k}: ${got[j] === null ? 'missing' : String(got[j]).slice(0, 40)}`)
    })
  }
  return {checked: entries.length, mismatched, examples}
}
