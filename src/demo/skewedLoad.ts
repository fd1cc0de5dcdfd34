import {errorMessage} from '../errors/errors.js'
import {keyHash} from '../model/hash.js'
import {type Shard} from '../model/shard.js'
import {RouterClient} from '../router/routerClient.js'

/** LoadCounters are what the clients saw so far: requests sent and requests that failed. */
export interface LoadCounters {
  requests: number
  writes: number
  reads: number
  errors: number
  /** firstErrors keeps the first few failures, for the summary. */
  firstErrors: string[]
}

/** SkewedLoadOptions shape the demo's client traffic. */
export interface SkewedLoadOptions {
  router: string
  /** hotNode: keys of shards this node holds get `hotShare` of the traffic. */
  hotNode: string
  hotShare: number
  workers: number
  /** opsPerSecond caps the total rate (the demo shares two cores with its nodes). */
  opsPerSecond: number
  keySpace: number
  valueBytes: number
  /** maxOps and maxMs bound the load in count and time, whatever happens. */
  maxOps: number
  maxMs: number
}

/** SkewedLoad is a running load generator. */
export interface SkewedLoad {
  counters(): LoadCounters
  /** stop ends the load and resolves once every in-flight request returned. */
  stop(): Promise<LoadCounters>
}

/**
 * pickKeys splits `count` candidate keys (`k<i>`) into hot keys (hashing into a shard
 * `hotNode` holds) and cold ones, by the shard map. Pure.
 */
export function pickKeys(shards: readonly Shard[], hotNode: string, count: number): {hot: string[]; cold: string[]} {
  const hotRanges = shards.filter((s) => s.replicas.some((r) => r.node === hotNode)).map((s) => s.range)
  const hot: string[] = []
  const cold: string[] = []
  for (let i = 0; i < count; i++) {
    const k = `k${i}`
    const h = keyHash(k)
    ;(hotRanges.some((r) => h >= r.lo && h < r.hi) ? hot : cold).push(k)
  }
  return {hot, cold}
}

/**
 * startSkewedLoad runs `workers` sequential clients through the router: two writes for
 * every read, a `hotShare` of them on keys of shards `hotNode` holds (so that node runs
 * hot), paced to `opsPerSecond` in total and bounded by `maxOps` and `maxMs`. A read of a
 * key never written (404) is a success; any other refusal or transport error counts as an
 * error.
 */
export function startSkewedLoad(shards: readonly Shard[], opts: SkewedLoadOptions): SkewedLoad {
  const client = new RouterClient(opts.router, 10_000, opts.workers)
  const keys = pickKeys(shards, opts.hotNode, opts.keySpace)
  const counters: LoadCounters = {requests: 0, writes: 0, reads: 0, errors: 0, firstErrors: []}
  const started = Date.now()
  const deadline = started + opts.maxMs
  const value = Buffer.alloc(opts.valueBytes, 'v')
  let stopped = false
  const wake = new Set<() => void>()
  const interval = (1000 * opts.workers) / opts.opsPerSecond
  // A deterministic pseudo-random sequence per worker (the demo is reproducible).
  const rng = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) % 1_000_000) / 1_000_000
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t)
        wake.delete(done)
        resolve()
      }
      const t = setTimeout(done, ms)
      wake.add(done)
    })

  const worker = async (w: number) => {
    const rand = rng(w + 1)
    let seq = 0
    while (!stopped && Date.now() < deadline && counters.requests < opts.maxOps) {
      const began = Date.now()
      const pool = (rand() < opts.hotShare && keys.hot.length > 0) || keys.cold.length === 0 ? keys.hot : keys.cold
      const key = pool[Math.floor(rand() * pool.length)]!
      const isWrite = seq++ % 3 !== 2
      counters.requests++
      try {
        if (isWrite) {
          counters.writes++
          await client.put(key, value)
        } else {
          counters.reads++
          await client.get(key)
        }
      } catch (err) {
        counters.errors++
        if (counters.firstErrors.length < 5) counters.firstErrors.push(`${isWrite ? 'PUT' : 'GET'} ${key}: ${errorMessage(err)}`)
      }
      const wait = interval - (Date.now() - began)
      if (wait > 0 && !stopped) await pause(wait)
    }
  }
  const done = Promise.all(Array.from({length: opts.workers}, (_, w) => worker(w)))
  return {
    counters: () => ({...counters, firstErrors: [...counters.firstErrors]}),
    async stop() {
      stopped = true
      for (const f of [...wake]) f()
      await done
      await client.close()
      return {...counters, firstErrors: [...counters.firstErrors]}
    },
  }
}
