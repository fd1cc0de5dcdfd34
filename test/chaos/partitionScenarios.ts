import {setThrottle} from '../../src/executor/controlService.js'
import {isTerminal} from '../../src/model/move.js'
import {type AddressPlan, type ChaosEnv} from './chaosEnv.js'
import {type Partition} from './partition.js'
import {type Scenario} from './scenarios.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** CUT_MS: how long a cut lasts; longer than the routers' node timeout (2 s) and the leases (3 s). */
const CUT_MS = 8000

/** EXECUTOR_CUT_MS outlasts the executor's node request timeout (10 s). */
const EXECUTOR_CUT_MS = 15_000

/** FaultMissed: the scenario's fault did not hit what it was meant to; the scenario fails. */
class FaultMissed extends Error {
  constructor(what: string) {
    super(`fault did not land: ${what}`)
  }
}

function network(env: ChaosEnv): {partition: Partition; at: AddressPlan} {
  if (!env.partition || !env.addresses) throw new Error('a partition scenario needs ownAddresses: true')
  return {partition: env.partition, at: env.addresses}
}

/** waitUntil polls `pred` every 200 ms until it holds (true) or `timeoutMs` passed (false). */
async function waitUntil(pred: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await pred()) return true
    await sleep(200)
  }
  return false
}

/** movesUnderWay waits (bounded) for a started move and returns the ids of the moves not yet terminal. */
async function movesUnderWay(env: ChaosEnv): Promise<string[]> {
  const started = await env.waitForMove((x) => x.phase !== 'pending' && !isTerminal(x.phase), 90_000)
  if (!started) throw new FaultMissed('no move was under way to partition')
  return (await env.moves()).filter((m) => !isTerminal(m.phase)).map((m) => m.id)
}

/** holdCut keeps the rules for CUT_MS, then heals; fails unless rules labelled `label` dropped packets. */
async function holdCut(partition: Partition, label: string, ms = CUT_MS): Promise<number> {
  await sleep(ms)
  const dropped = partition.packets(label)
  partition.heal()
  if (dropped === 0) throw new FaultMissed(`the "${label}" rules dropped no packet (no traffic crossed the cut)`)
  return dropped
}

/**
 * PARTITION_SCENARIOS cut the network between chosen processes (each on its own loopback
 * address; iptables DROP rules in the run's own chain) while n5 drains under load, and prove
 * each cut hit live traffic by its rules' packet counters.
 */
export const PARTITION_SCENARIOS: Scenario[] = [
  {
    name: 'partition: router cut from one replica',
    short: false,
    ownAddresses: true,
    async inject(env) {
      const {partition, at} = network(env)
      const open = await movesUnderWay(env)
      partition.cut(at.of('r1'), at.of('n1'), 'r1-n1')
      const dropped = await holdCut(partition, 'r1-n1')
      return [`cut r1 <-> n1 both ways for ${CUT_MS / 1000} s with ${open.length} move(s) under way: ${dropped} packets dropped`]
    },
  },
  {
    name: 'partition: node cut from etcd (lease lapses, stops serving)',
    short: false,
    ownAddresses: true,
    async inject(env) {
      const {partition, at} = network(env)
      const node = 'n2'
      const open = await movesUnderWay(env)
      if (!(await env.nodeServing(node))) throw new FaultMissed(`${node} was not serving before the cut`)
      for (const member of at.etcd(3)) partition.cut(at.of(node), member, 'n2-etcd')
      const cutAt = Date.now()
      // The routers still reach n2; only its lease (etcd) is cut. It must fence itself.
      const stopped = await waitUntil(async () => !(await env.nodeServing(node)), 45_000)
      const stoppedAfterS = Math.round((Date.now() - cutAt) / 1000)
      if (stopped) await sleep(3000) // some load while it refuses
      const dropped = partition.packets('n2-etcd')
      partition.heal()
      if (!stopped) throw new FaultMissed(`${node} kept serving for 45 s after it was cut from etcd (its lease must lapse)`)
      if (dropped === 0) throw new FaultMissed('no packet between n2 and etcd was dropped')
      const back = await waitUntil(() => env.nodeServing(node), 60_000)
      if (!back) throw new Error(`${node} did not serve again within 60 s of the cut healing`)
      return [`cut n2 <-> etcd (3 members) with ${open.length} move(s) under way: n2 stopped serving after ~${stoppedAfterS} s, ${dropped} packets dropped; serving again after healing`]
    },
  },
  {
    name: 'partition: executor cut from a destination mid-copy',
    short: false,
    ownAddresses: true,
    async inject(env) {
      const {partition, at} = network(env)
      // Slow copies down (live, through the control record) so the cut lands mid-copy on any machine.
      await setThrottle(env.dp.ctx, 2048)
      try {
        const m = await env.waitForMove((x) => x.phase === 'copying' && x.progress.bytes > 0, 90_000)
        if (!m) throw new FaultMissed('no move was copying')
        partition.cut(at.of('executor'), at.of(m.to), 'executor-dst')
        const now = (await env.moves()).find((x) => x.id === m.id)
        if (now?.phase !== 'copying') {
          partition.heal()
          throw new FaultMissed(`${m.id} was already ${now?.phase ?? 'gone'} when the cut began`)
        }
        // Longer than the executor's node request timeout (10 s): its requests to the destination
        // time out (it retries them silently, within its node-retry budget). Proof that the cut
        // hit the copy: no progress is recorded while it lasts, and the copy goes on once healed.
        const progressOf = async () => (await env.moves()).find((x) => x.id === m.id)
        await sleep(3000)
        const during = await progressOf()
        await sleep(EXECUTOR_CUT_MS - 3000)
        const atEnd = await progressOf()
        const dropped = partition.packets('executor-dst')
        partition.heal()
        if (dropped === 0) throw new FaultMissed('no packet between the executor and the destination was dropped')
        if (during?.phase !== 'copying' || atEnd?.phase !== 'copying' || atEnd.progress.bytes !== during.progress.bytes) {
          throw new FaultMissed(`${m.id} did not stall while its executor was cut from ${m.to}: ${during?.phase} ${during?.progress.bytes} B -> ${atEnd?.phase} ${atEnd?.progress.bytes} B`)
        }
        const stalledAt = atEnd.progress.bytes
        const resumed = await waitUntil(async () => {
          const x = await progressOf()
          return x !== undefined && (x.phase !== 'copying' || x.progress.bytes > stalledAt)
        }, 60_000)
        if (!resumed) throw new Error(`${m.id} made no progress within 60 s of the cut healing`)
        const after = await progressOf()
        return [`cut executor <-> ${m.to} (destination of ${m.id}) for ${EXECUTOR_CUT_MS / 1000} s mid-copy: ${dropped} packets dropped, the copy stalled at ${stalledAt} B and went on after healing (${after?.phase}, ${after?.progress.bytes} B)`]
      } finally {
        await setThrottle(env.dp.ctx, null)
      }
    },
  },
  {
    name: 'partition: asymmetric (router reaches node, node does not reach router)',
    short: false,
    ownAddresses: true,
    async inject(env) {
      const {partition, at} = network(env)
      const open = await movesUnderWay(env)
      // r1's requests reach n3 (which applies them); n3's answers never come back.
      partition.count(at.of('r1'), at.of('n3'), 'r1-to-n3')
      partition.drop(at.of('n3'), at.of('r1'), 'n3-to-r1')
      await sleep(CUT_MS)
      const delivered = partition.packets('r1-to-n3')
      const dropped = partition.packets('n3-to-r1')
      partition.heal()
      if (dropped === 0 || delivered === 0) throw new FaultMissed(`r1 -> n3 carried ${delivered} packets and n3 -> r1 dropped ${dropped}; both must be > 0`)
      return [`dropped n3 -> r1 only for ${CUT_MS / 1000} s with ${open.length} move(s) under way: ${delivered} packets r1 -> n3 delivered, ${dropped} n3 -> r1 dropped`]
    },
  },
]
