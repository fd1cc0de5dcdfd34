import {errorMessage} from '../errors/errors.js'
import {keyHash} from '../model/hash.js'
import {type Shard} from '../model/shard.js'
import {type RouterCredentials, RouterClient} from '../router/routerClient.js'

/** LoadCounters are what the clients saw so far: requests sent and requests that failed. */
export interface LoadCounters {
  requests: number
  writes: number
  reads: number
  errors: number
  /** worstMs is the longest a single request took (the worst stall a client saw). */
  worstMs: number
  /** firstErrors keeps the first few failures, for the summary. */
  firstErrors: string[]
}

/** SkewedLoadOptions shape the demo's client traffic. */
export interface SkewedLoadOptions {
  router: string
  /** credentials: TLS and the user's token of a secured router (none: plaintext). */
  credentials: RouterCredentials
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

/** KeyPools are the demo's keys: hot ones per shard of the hot node, with sampling weights, and cold ones. */
export interface KeyPools {
  /** hot[i] are the keys of the i-th hot shard (one the hot node holds). */
  hot: string[][]
  /** weights[i] is the share of hot traffic hot[i] gets (they sum to 1). */
  weights: number[]
  cold: string[]
}

/**
 * pickKeys sorts `count` candidate keys (`k<i>`) by the shard map: keys of shards
 * `hotNode` holds are hot, grouped per shard; the rest are cold. Hot shards are weighted
 * so that every distinct set of fellow replicas gets the same share of hot traffic: then
 * the other nodes share the hot load evenly and `hotNode` alone runs hot (with rf 3 on 4
 * nodes, uniform traffic over its shards would load a node holding most of them almost
 * as much). Pure.
 */
export function pickKeys(shards: readonly Shard[], hotNode: string, count: number): KeyPools {
  const hotShards = shards.filter((s) => s.replicas.some((r) => r.node === hotNode))
  const groupOf = (s: Shard) => s.replicas.map((r) => r.node).filter((n) => n !== hotNode).sort().join(',')
  const groupSize = new Map<string, number>()
  for (const s of hotShards) groupSize.set(groupOf(s), (groupSize.get(groupOf(s)) ?? 0) + 1)
  const hot: string[][] = hotShards.map(() => [])
  const cold: string[] = []
  for (let i = 0; i < count; i++) {
    const k = `k${i}`
    const h = keyHash(k)
    const at = hotShards.findIndex((s) => h >= s.range.lo && h < s.range.hi)
    if (at >= 0) hot[at]!.push(k)
    else cold.push(k)
  }
  const raw = hotShards.map((s, i) => (hot[i]!.length > 0 ? 1 / groupSize.get(groupOf(s))! : 0))
  const sum = raw.reduce((a, b) => a + b, 0)
  return {hot, weights: raw.map((w) => (sum > 0 ? w / sum : 0)), cold}
}

/**
 * startSkewedLoad runs `workers` sequential clients through the router: two writes for
 * every read, a `hotShare` of them on keys of shards `hotNode` holds (so that node runs
 * hot), paced to `opsPerSecond` in total and bounded by `maxOps` and `maxMs`. A read of a
 * key never written (404) is a success; any other refusal or transport error counts as an
 * error.
 */
export function startSkewedLoad(shards: readonly Shard[], opts: SkewedLoadOptions): SkewedLoad {
  const client = new RouterClient(opts.router, 10_000, opts.workers, opts.credentials)
  const keys = pickKeys(shards, opts.hotNode, opts.keySpace)
  const hasHot = keys.weights.some((w) => w > 0)
  const pickHot = (r: number): string[] => {
    let acc = 0
    for (let i = 0; i < keys.hot.length; i++) {
      acc += keys.weights[i]!
      if (r < acc && keys.hot[i]!.length > 0) return keys.hot[i]!
    }
    return [...keys.hot].reverse().find((k) => k.length > 0) ?? keys.cold
  }
  const counters: LoadCounters = {requests: 0, writes: 0, reads: 0, errors: 0, worstMs: 0, firstErrors: []}
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
      const pool = (rand() < opts.hotShare && hasHot) || keys.cold.length === 0 ? pickHot(rand()) : keys.cold
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
      counters.worstMs = Math.max(counters.worstMs, Date.now() - began)
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
