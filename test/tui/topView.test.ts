import {describe, expect, it} from 'vitest'
import {deriveTopView} from '../../src/tui/topView.js'
import {nextThrottle, THROTTLE_STEPS} from '../../src/tui/throttleSteps.js'
import {alive, busyCluster, census, censusDelta, KEYS, meta, move, node, reduce, seeded, shard, stats, T0} from './fixtures.js'

describe('deriveTopView', () => {
  it('Given a node that goes down, When derived, Then shards short of live voters are counted from the census voter sets until it is back', () => {
    const shards = [shard(0, ['n1', 'n2', 'n3']), shard(1, ['n1', 'n2', 'n4']), shard(2, ['n2', 'n3', 'n4'])]
    const before = seeded([meta(), ...['n1', 'n2', 'n3', 'n4'].flatMap((n) => [node(n), alive(n)]), ...shards])
    expect(deriveTopView(before, 1.1).header).toMatchObject({shards: 3, underReplicatedShards: 0, replicasOnDownNodes: 0, censusKnown: true})
    const down = reduce([{type: 'kv', at: T0 + 1, item: {key: KEYS.alive('n1'), value: null}}], before)
    // Shards 0 and 1 have n1 as a voter: 2 live voters of rf 3 each (what cluster status and the autopilot count).
    expect(deriveTopView(down, 1.1).header).toMatchObject({nodesDown: 1, underReplicatedShards: 2, replicasOnDownNodes: 0})
    const back = reduce([{type: 'kv', at: T0 + 2, item: alive('n1')}], down)
    expect(deriveTopView(back, 1.1).header).toMatchObject({underReplicatedShards: 0, replicasOnDownNodes: 0})
    // A heal writes shard 0 without n1 (2 voters for now): still 2 short (shard 0 by its voters, shard 1 by n1 down).
    const healing = reduce([{type: 'kv', at: T0 + 3, item: censusDelta(shards[0], shard(0, ['n2', 'n3']), 5n)}], down)
    expect(deriveTopView(healing, 1.1).header).toMatchObject({shards: 3, underReplicatedShards: 2, replicasOnDownNodes: 0})
    // n4 down as well: shard 2 (n2, n3, n4) joins them.
    const twoDown = reduce([{type: 'kv', at: T0 + 4, item: {key: KEYS.alive('n4'), value: null}}], healing)
    expect(deriveTopView(twoDown, 1.1).header.underReplicatedShards).toBe(3)
  })

  it('Given a census without voter sets (older, or too many sets), When a node is down, Then voters are counted dead or alive and the replicas on down nodes are shown beside them', () => {
    const shards = [shard(0, ['n1', 'n2', 'n3']), shard(1, ['n1', 'n2', 'n4']), shard(2, ['n2', 'n3', 'n4'])]
    const items = [meta(), ...['n1', 'n2', 'n3', 'n4'].flatMap((n) => [node(n), alive(n)]), ...shards]
    const base = census(items)
    const withoutSets = {...base, value: JSON.stringify({...JSON.parse(base.value!), counts: {...JSON.parse(base.value!).counts, byVoterSet: undefined}})}
    const before = seeded([...items, withoutSets])
    const down = reduce([{type: 'kv', at: T0 + 1, item: {key: KEYS.alive('n1'), value: null}}], before)
    expect(deriveTopView(down, 1.1).header).toMatchObject({nodesDown: 1, underReplicatedShards: 0, replicasOnDownNodes: 2})
  })

  it('Given shard records arriving on the watch, When derived, Then they are ignored: only census keys move the counts', () => {
    const before = seeded([meta(), node('n1'), alive('n1'), shard(0, ['n1'])])
    const s = reduce([{type: 'kv', at: T0 + 1, item: shard(1, ['n1'])}], before)
    expect(s.census).toBe(before.census)
    expect(deriveTopView(s, 1.1).header.shards).toBe(1)
  })

  it('Given a cluster without a census, When derived, Then the counts are marked unknown rather than shown as an empty cluster', () => {
    const v = deriveTopView(seeded([meta(), node('n1'), alive('n1')]), 1.1)
    expect(v.header).toMatchObject({censusKnown: false, shards: 0})
  })

  it('Given a busy cluster, When derived, Then the header has the figures and n1 is the hottest node', () => {
    const v = deriveTopView(seeded(busyCluster()), 1.1)
    expect(v.header).toMatchObject({cluster: 'demo', nodesUp: 4, nodesDown: 0, shards: 4, movingShards: 1, rf: 3, target: 1.1, throttle: '256 KiB/s'})
    expect(v.header.executor).toEqual({state: 'running', holder: 'shardctl apply p1 (pid 4242)', pausedFlag: false})
    const hottest = [...v.nodes].sort((a, b) => b.utilisation! - a.utilisation!)[0]!
    expect(hottest.id).toBe('n1')
    expect(v.header.imbalance).toBeCloseTo(hottest.utilisation!, 5)
    expect(v.header.imbalance!).toBeGreaterThan(1.1)
  })

  it('Given moves, When derived, Then the running one comes first with fraction, rate and ETA, the rate and ETA in the fraction\'s unit (key and value bytes), not the stream\'s', () => {
    const [running, done] = deriveTopView(seeded(busyCluster()), 1.1).moves
    // 512 KiB of data left at 128 KiB/s of data: 4 s (the stream's 256 KiB/s said 2 s).
    expect(running).toMatchObject({id: 'm1', phase: 'copying', fraction: 0.5, dataRateBytesPerSec: 128 * 1024, etaSeconds: 4, terminal: false})
    expect(done).toMatchObject({id: 'm0', phase: 'done', fraction: 1, terminal: true})
  })

  it('Given a heal merging two replicas (the copy reads 2 MiB of a 1 MiB shard), When derived, Then its bar is a quarter at 512 KiB, not a half, with the ETA to the whole 2 MiB; and past what was expected it stays full, without an ETA', () => {
    const merged = {bytes: 512 * 1024, keys: 100, totalBytes: 1024 * 1024, expectedBytes: 2 * 1024 * 1024, rateBytesPerSec: 256 * 1024, dataRateBytesPerSec: 128 * 1024, cursor: null, stalled: false}
    const [running] = deriveTopView(seeded([meta(), node('n1'), node('n4'), move('m1', {progress: merged})]), 1.1).moves
    expect(running).toMatchObject({fraction: 0.25, etaSeconds: 12})
    const [past] = deriveTopView(seeded([meta(), node('n1'), node('n4'), move('m1', {progress: {...merged, bytes: 2 * 1024 * 1024 + 10}})]), 1.1).moves
    expect(past).toMatchObject({fraction: 1, etaSeconds: null})
  })

  it('Given a node whose published load names a replica a move took away, When derived, Then its row says the load predates the map (as cluster status and node show do) until it publishes again', () => {
    const before = seeded([meta(1), node('n1'), alive('n1'), node('n2'), alive('n2'), shard(0, ['n1']), shard(1, ['n1']), stats('n1', [0, 1], 10)])
    const row = (s: typeof before, id: string) => deriveTopView(s, 1.1).nodes.find((n) => n.id === id)!
    expect(row(before, 'n1')).toMatchObject({replicas: 2, loadStale: false})
    const moved = reduce([{type: 'kv', at: T0 + 1, item: censusDelta(shard(1, ['n1']), shard(1, ['n2']), 5n)}], before)
    expect(row(moved, 'n1')).toMatchObject({replicas: 1, loadStale: true})
    // n2 publishes nothing: its figures are estimated from its replicas, nothing to be stale.
    expect(row(moved, 'n2')).toMatchObject({replicas: 1, loadStale: false})
    const published = reduce([{type: 'kv', at: T0 + 2, item: stats('n1', [0], 10)}], moved)
    expect(row(published, 'n1')).toMatchObject({replicas: 1, loadStale: false})
  })

  it('Given a cluster without a census, When derived, Then no load is called stale: there is no replica count to check it against', () => {
    const v = deriveTopView(seeded([meta(), node('n1'), alive('n1'), stats('n1', [0, 1], 10)]), 1.1)
    expect(v.nodes[0]).toMatchObject({replicas: 0, loadStale: false})
  })

  it('Given no stats, When derived, Then imbalance and utilisation are unknown, not zero', () => {
    const v = deriveTopView(seeded([meta(), node('n1')]), 1.1)
    expect(v.header.imbalance).toBeNull()
    expect(v.nodes[0]).toMatchObject({id: 'n1', down: true, utilisation: null})
    expect(v.header.executor.state).toBe('idle')
  })

  it('Given etcd down for 7 s, When derived, Then the header says for how long', () => {
    const s = reduce([{type: 'connection', at: T0 + 1000, status: 'disconnected'}, {type: 'tick', at: T0 + 8000}], seeded(busyCluster()))
    expect(deriveTopView(s, 1.1).header).toMatchObject({connection: 'reconnecting', downForSeconds: 7})
  })

  it('Given paused control and an executor, When derived, Then the executor is paused', () => {
    const s = reduce([{type: 'kv', at: T0, item: {key: KEYS.control, value: JSON.stringify({paused: true, throttleBytesPerSec: null, updatedAt: ''})}}], seeded(busyCluster()))
    expect(deriveTopView(s, 1.1).header.executor.state).toBe('paused')
    expect(deriveTopView(s, 1.1).header.throttle).toBe('default')
  })
})

describe('nextThrottle', () => {
  it('Given a rate, When + and -, Then it steps to the neighbouring powers of two', () => {
    expect(nextThrottle(256 * 1024, 0, 1)).toBe(512 * 1024)
    expect(nextThrottle(256 * 1024, 0, -1)).toBe(128 * 1024)
    expect(nextThrottle(300 * 1024, 0, -1)).toBe(256 * 1024)
  })

  it('Given the ends of the ladder, When pressed past them, Then + becomes unlimited and - stays at the floor', () => {
    expect(nextThrottle(THROTTLE_STEPS.at(-1)!, 0, 1)).toBeNull()
    expect(nextThrottle(null, 0, 1)).toBeNull()
    expect(nextThrottle(THROTTLE_STEPS[0]!, 0, -1)).toBe(THROTTLE_STEPS[0])
  })

  it('Given unlimited, When -, Then it slows below what the moves copy now', () => {
    expect(nextThrottle(null, 3 * 1024 * 1024, -1)).toBe(2 * 1024 * 1024)
  })
})
