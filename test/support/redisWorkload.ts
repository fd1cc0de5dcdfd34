import {setTimeout as sleepFor} from 'node:timers/promises'
import {type Cluster} from 'ioredis'

/**
 * RedisWorkload: bounded SET writers on a cluster-aware client (MOVED/ASK), each key written
 * by one worker only, so a key must read its last acknowledged value at the end. Bounded by
 * `maxOps` and by {@link RedisWorkload.stop}; `last` holds every acknowledged value.
 */
export class RedisWorkload {
  readonly last = new Map<string, string>()
  readonly errors: string[] = []
  ops = 0
  #stopped = false
  readonly #done: Promise<void[]>
  constructor(client: Cluster, keys: readonly string[], workers: number, maxOps: number) {
    this.#done = Promise.all(
      Array.from({length: workers}, async (_, w) => {
        const mine = keys.filter((_, i) => i % workers === w)
        for (let n = 1; !this.#stopped && this.ops < maxOps; n++) {
          const key = mine[n % mine.length]!
          const value = `${key}=${n}`
          try {
            await client.set(key, value)
            this.last.set(key, value)
            this.ops++
          } catch (err) {
            this.errors.push(`${key}: ${(err as Error).message}`)
          }
          await sleepFor(2)
        }
      }),
    )
  }
  async stop(): Promise<void> {
    this.#stopped = true
    await this.#done
  }
}
