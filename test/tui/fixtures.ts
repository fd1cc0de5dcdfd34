import {countShards, shardDelta} from '../../src/cluster/censusCounts.js'
import {keysOf} from '../../src/etcd/keys.js'
import {type Move} from '../../src/model/move.js'
import {type KeyValue, initialTopState, type TopAction, topReducer, type TopState} from '../../src/tui/topState.js'
import {splitNodeStats} from '../../src/stats/statsPages.js'

/** KEYS are the key builders of the fixture cluster. */
export const KEYS = keysOf('demo')

/** T0 is the fixtures' clock origin (ms). */
export const T0 = Date.parse('2026-11-29T09:00:00Z')

const AT = new Date(T0).toISOString()

/** meta is the cluster meta key for rf `rf`. */
export function meta(rf = 3): KeyValue {
  return {key: KEYS.meta, value: JSON.stringify({version: 1, name: 'demo', rf, hash: 'murmur3-x86_32', createdAt: AT, nextShardId: 8})}
}

/** node is a node record. */
export function node(id: string, state: 'active' | 'cordoned' | 'draining' = 'active'): KeyValue {
  return {key: KEYS.node(id), value: JSON.stringify({id, address: `127.0.0.1:${17000 + Number(id.slice(1))}`, zone: `zone-${id}`, capacity: {}, state, createdAt: AT})}
}

/** alive is a node's liveness key. */
export function alive(id: string): KeyValue {
  return {key: KEYS.alive(id), value: JSON.stringify({node: id, address: `127.0.0.1:${17000 + Number(id.slice(1))}`, pid: 100, startedAt: AT})}
}

/** shard is shard `id` (of 4 even ranges of the 32-bit space) on `nodes`. */
export function shard(id: number, nodes: string[], roles: Record<string, string> = {}): KeyValue {
  const w = 2 ** 30
  return {key: KEYS.shard(id), value: JSON.stringify({id, range: {lo: id * w, hi: (id + 1) * w}, epoch: 1, replicas: nodes.map((n) => ({node: n, role: roles[n] ?? 'voter'}))})}
}

/** stats is a node's stats summary, as it publishes it (splitNodeStats): `load` ops/s reads and writes and `load` KiB per listed shard. */
export function stats(id: string, shards: number[], load: number): KeyValue {
  const {summary} = splitNodeStats({node: id, at: AT, shards: shards.map((s) => ({shard: s, reads: load, writes: load, bytes: load * 1024, keys: load}))})
  return {key: KEYS.stats(id), value: JSON.stringify(summary)}
}

/** move is a move record with `patch` applied. */
export function move(id: string, patch: Partial<Move> = {}): KeyValue {
  const m: Move = {
    id,
    plan: 'p1',
    index: Number(id.replace(/\D/g, '')) || 0,
    shard: 1,
    from: 'n1',
    to: 'n4',
    baseEpoch: 1,
    epoch: 2,
    phase: 'copying',
    // The stream runs at the 256 KiB/s throttle; its key and value bytes at half that (versions and framing are the rest).
    progress: {bytes: 512 * 1024, keys: 100, totalBytes: 1024 * 1024, rateBytesPerSec: 256 * 1024, dataRateBytesPerSec: 128 * 1024, cursor: null, stalled: false},
    cancelRequested: false,
    reason: null,
    attempts: 0,
    createdAt: AT,
    updatedAt: AT,
    cutoverAt: null,
    copyStartedAt: null,
    ...patch,
  } as Move
  return {key: KEYS.move(id), value: JSON.stringify(m)}
}

/** lock is the executor lock held by `holder`. */
export function lock(holder = 'shardctl apply p1'): KeyValue {
  return {key: KEYS.executorLock, value: JSON.stringify({holder, host: 'box', pid: 4242, acquiredAt: AT})}
}

/** control is the control record. */
export function control(paused: boolean, throttle: number | null): KeyValue {
  return {key: KEYS.control, value: JSON.stringify({paused, throttleBytesPerSec: throttle, updatedAt: AT})}
}

/** reduce runs `actions` through the reducer from the initial state. */
export function reduce(actions: TopAction[], from: TopState = initialTopState('demo', 'http://127.0.0.1:2379', T0)): TopState {
  return actions.reduce((s, a) => topReducer(KEYS, s, a), from)
}

function replicasOf(kv: KeyValue): {replicas: {node: string; role: string}[]} {
  return JSON.parse(kv.value ?? '{}') as {replicas: {node: string; role: string}[]}
}

/** census is the census base counting the shard records among `items`, valid at revision `asOf`. */
export function census(items: KeyValue[], asOf = 1n): KeyValue {
  const shards = items.filter((kv) => kv.key.startsWith(KEYS.shardsPrefix)).map(replicasOf)
  return {key: KEYS.censusBase, value: JSON.stringify({asOf: asOf.toString(), counts: countShards(shards)}), revision: 1n}
}

/** censusDelta is the delta key a shard write from `before` (absent: created) to `after` adds, created at `revision`. */
export function censusDelta(before: KeyValue | undefined, after: KeyValue, revision: bigint, id = `d${revision}`): KeyValue {
  return {key: KEYS.censusDelta(id), value: JSON.stringify(shardDelta(before ? replicasOf(before) : undefined, replicasOf(after))), revision}
}

/** seeded is the state after one full read of `items`; shard records among them come with their census base, as etcd holds both. */
export function seeded(items: KeyValue[]): TopState {
  const withCensus = items.some((kv) => kv.key.startsWith(KEYS.shardsPrefix)) && !items.some((kv) => kv.key === KEYS.censusBase) ? [...items, census(items)] : items
  return reduce([{type: 'seeded', at: T0, items: withCensus}])
}

/** busyCluster is 4 nodes, n1 hot, two moves (one copying, one done) and an executor running. */
export function busyCluster(): KeyValue[] {
  return [
    meta(),
    ...['n1', 'n2', 'n3', 'n4'].flatMap((n) => [node(n), alive(n)]),
    shard(0, ['n1', 'n2', 'n3']),
    shard(1, ['n1', 'n2', 'n4'], {n4: 'joining'}),
    shard(2, ['n1', 'n3', 'n4']),
    shard(3, ['n2', 'n3', 'n4']),
    stats('n1', [0, 1, 2], 30),
    stats('n2', [0, 1, 3], 10),
    stats('n3', [0, 2, 3], 10),
    stats('n4', [2, 3], 10),
    move('m1', {shard: 1, phase: 'copying'}),
    move('m0', {shard: 0, from: 'n1', to: 'n4', phase: 'done', progress: {bytes: 1024 * 1024, keys: 100, totalBytes: 1024 * 1024, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}}),
    lock(),
    control(false, 256 * 1024),
  ]
}

/** router is a router registration published at T0 + `atMs` with the given client totals and p99. */
export function router(id: string, atMs: number, requests: number, errors: number, p99Ms: number | null): KeyValue {
  const at = new Date(T0 + atMs).toISOString()
  return {
    key: KEYS.router(id),
    value: JSON.stringify({id, address: '127.0.0.1:7000', pid: 99, startedAt: AT, updatedAt: at, mapRevision: '1', epochs: {}, p99Ms, clientRequests: requests, clientErrors: errors}),
  }
}
