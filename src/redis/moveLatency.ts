import {listNodes} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {type LatencyReading} from '../executor/adaptiveThrottle.js'
import {type Move} from '../model/move.js'
import {type RedisLatencyProbe} from './redisLatencyProbe.js'

/**
 * mastersOfRunningMoves returns the addresses of the masters taking part in `running` (each
 * move's source and target), looked up in `addresses` (node id -> address); ids without an
 * address are left out. Pure.
 */
export function mastersOfRunningMoves(running: readonly Pick<Move, 'from' | 'to'>[], addresses: ReadonlyMap<string, string>): string[] {
  const out = new Set<string>()
  for (const m of running) {
    for (const id of [m.from, m.to]) {
      const a = addresses.get(id)
      if (a !== undefined) out.add(a)
    }
  }
  return [...out].sort()
}

/**
 * redisMoveLatency returns the latency signal `--throttle auto` follows on a redis cluster:
 * each call points `probe` at the source and target masters of the moves running now and
 * returns the p99 PING round trip measured on them since the previous call, as a reading
 * closed at `clock()` (ms since the epoch) reaching back to the previous call (null when
 * none was measured). Node addresses are read from etcd when a move names a node not seen yet.
 */
export function redisMoveLatency(ctx: ServiceContext, probe: RedisLatencyProbe, clock: () => number): (running: readonly Move[]) => Promise<LatencyReading | null> {
  let addresses = new Map<string, string>()
  let last = clock()
  return async (running) => {
    if (running.some((m) => !addresses.has(m.from) || !addresses.has(m.to))) {
      addresses = new Map((await listNodes(ctx).catch(() => [])).map((n) => [n.value.id, n.value.address]))
    }
    probe.watch(mastersOfRunningMoves(running, addresses))
    const taken = probe.take()
    const at = clock()
    const windowMs = Math.max(1, at - last)
    last = at
    return taken && {...taken, windowMs, at}
  }
}
