import {setTimeout as sleepFor} from 'node:timers/promises'
import {type Cluster} from 'ioredis'

/**
 * RedisWorkload: bounded SET writers on a cluster-aware client (MOVED/ASK), each key written
 * by one worker only, so a key must read its last acknowledged value at the end. Bounded by
 * `maxOps` and by {@link RedisWorkload.stop}; `last` holds every acknowledged value.
 */
export class RedisWorkload {
  readonly last = new Map<string, string>()
  /** maybe holds, per key, the values of SETs that failed since its last acknowledged one: a SET that errored (a timeout, a connection lost) may still have been applied. */
  readonly maybe = new Map<string, string[]>()
  readonly errors: string[] = []
  ops = 0
  #stopped = false
  readonly #done: Promise<void[]>
  /** `pad` is appended to every value written (big values: keys that stay big while they are migrated). */
  constructor(client: Cluster, keys: readonly string[], workers: number, maxOps: number, pad = '') {
    this.#done = Promise.all(
      Array.from({length: workers}, async (_, w) => {
        const mine = keys.filter((_, i) => i % workers === w)
        for (let n = 1; !this.#stopped && this.ops < maxOps; n++) {
          const key = mine[n % mine.length]!
          const value = `${key}=${n}${pad}`
          try {
            await client.set(key, value)
            this.last.set(key, value)
            this.maybe.delete(key)
            this.ops++
          } catch (err) {
            this.errors.push(`${key}: ${(err as Error).message}`)
            this.maybe.set(key, [...(this.maybe.get(key) ?? []), value])
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
  /**
   * lost reads every key written back through `client` and lists, as "key: read X, acknowledged
   * Y", each that reads neither its last acknowledged value nor a value of a SET that failed
   * since (which may have been applied): an acknowledged write lost, or an older one resurrected.
   */
  async lost(client: Cluster): Promise<string[]> {
    const out: string[] = []
    for (const [key, value] of this.last) {
      const read = await client.get(key)
      if (read !== value && !(read !== null && this.maybe.get(key)?.includes(read))) out.push(`${key}: read ${read}, acknowledged ${value}`)
    }
    return out
  }
}
