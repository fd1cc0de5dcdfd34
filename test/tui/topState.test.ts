import {describe, expect, it} from 'vitest'
import {autopilotKeys, type AutopilotState, type DecisionRecord} from '../../src/autopilot/autopilotState.js'
import {holdReason} from '../../src/executor/copyAdmission.js'
import {type ThrottleStepEvent} from '../../src/executor/executorEnv.js'
import {LOG_LIMIT, orderedMoves} from '../../src/tui/topState.js'
import {alive, busyCluster, control, KEYS, lock, meta, move, node, reduce, router, seeded, shard, T0} from './fixtures.js'

describe('topReducer', () => {
  it('Given a full read, When seeded, Then it holds the cluster and logs one connected line', () => {
    const s = seeded(busyCluster())
    expect(s.connection).toBe('connected')
    expect(s.nodes.size).toBe(4)
    expect(s.alive.size).toBe(4)
    expect(s.census.counts?.shards).toBe(4)
    expect(s.moves.size).toBe(2)
    expect(s.lock?.holder).toBe('shardctl apply p1')
    expect(s.control?.throttleBytesPerSec).toBe(256 * 1024)
    expect(s.log.map((l) => l.text)).toEqual(['connected: 4 nodes, 4 shards, 1 moves running'])
  })

  it('Given a running move, When it walks every phase to done, Then the log has one line each for start, cutover and finish (the row shows the rest)', () => {
    const phases = ['pending', 'checked', 'joining', 'copying', 'promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup', 'done'] as const
    const start = seeded(busyCluster().filter((kv) => !kv.key.endsWith('/m1')))
    const s = reduce(phases.map((phase, i) => ({type: 'kv', at: T0 + 1000 + i, item: move('m1', {shard: 1, phase, progress: {bytes: 2048, keys: 2, totalBytes: 2048, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false}})})), start)
    expect(s.moves.get('m1')?.phase).toBe('done')
    expect(s.log.slice(start.log.length).map((l) => l.text)).toEqual(['shard 1 n1 → n4: started', 'shard 1 n1 → n4: cut over', 'shard 1 n1 → n4: done — 2.0 KiB copied'])
  })

  it('Given a running move, When its phase changes between milestones, Then nothing is logged but the move is updated', () => {
    const before = seeded(busyCluster())
    const s = reduce([{type: 'kv', at: T0 + 1000, item: move('m1', {shard: 1, phase: 'verifying'})}], before)
    expect(s.moves.get('m1')?.phase).toBe('verifying')
    expect(s.log).toEqual(before.log)
  })

  it('Given a running move, When a new reason appears without a phase change, Then it is logged as a retry', () => {
    const s = reduce([{type: 'kv', at: T0 + 1, item: move('m1', {shard: 1, reason: 'STALE_EPOCH from n2'})}], seeded(busyCluster()))
    expect(s.log.at(-1)).toMatchObject({level: 'warn', text: 'shard 1 n1 → n4: retrying: STALE_EPOCH from n2'})
  })

  it('Given a cut-over move, When its source is abandoned and the executor goes on without it, Then both are logged as warnings, the second with what was lost, not as a retry', () => {
    const reason = "source n1 abandoned (moves abandon-source --accept-data-loss): n4 restarted since it was verified and went on with what it held (no other copy to refill it from); records only n1's copy held are lost"
    const s = reduce(
      [
        {type: 'kv', at: T0 + 1, item: move('m1', {shard: 1, phase: 'cleanup', abandonSourceRequested: 'T'})},
        {type: 'kv', at: T0 + 2, item: move('m1', {shard: 1, phase: 'cleanup', abandonSourceRequested: 'T', reason, sourceAbandoned: {at: 'T', destinationDir: 'd/i', refilledFrom: []}})},
      ],
      seeded(busyCluster()),
    )
    expect(s.log.slice(-2)).toMatchObject([
      {level: 'warn', text: 'shard 1 n1 → n4: source n1 abandoned by the operator (--accept-data-loss)'},
      {level: 'warn', text: `shard 1 n1 → n4: ${reason}`},
    ])
  })

  it('Given a move that went on without its source, When the destination restarts again and it goes on without it once more, Then that is logged as a loss too, not as a retry', () => {
    const first = {at: 'T1', destinationDir: 'd/i', refilledFrom: []}
    const reason = "source n1 abandoned (moves abandon-source --accept-data-loss): n4 restarted since it was verified and went on with what it held (no other copy to refill it from); records only n1's copy held are lost"
    const s = reduce(
      [
        {type: 'kv', at: T0 + 1, item: move('m1', {shard: 1, phase: 'cleanup', abandonSourceRequested: 'T', reason, sourceAbandoned: first})},
        {type: 'kv', at: T0 + 2, item: move('m1', {shard: 1, phase: 'cleanup', abandonSourceRequested: 'T', reason: `${reason} `, sourceAbandoned: {at: 'T2', destinationDir: 'd2/i', refilledFrom: [], earlier: [first]}})},
      ],
      seeded(busyCluster()),
    )
    // Before: the second was logged as "retrying: source n1 abandoned ...".
    expect(s.log.at(-1)).toMatchObject({level: 'warn', text: `shard 1 n1 → n4: ${reason} `})
  })

  it('Given a running move, When the throttle holds its copy, Then the log says so as news, not as a retry', () => {
    const reason = holdReason({limit: 'cluster', rate: 32 * 1024, slots: 2})
    const s = reduce([{type: 'kv', at: T0 + 1, item: move('m1', {shard: 1, phase: 'copying', reason})}], seeded(busyCluster()))
    expect(s.log.at(-1)).toMatchObject({level: 'info', text: `shard 1 n1 → n4: ${reason}`})
  })

  it('Given a failed move, When it arrives, Then the log shows it as an error with its reason', () => {
    const s = reduce([{type: 'kv', at: T0 + 1, item: move('m1', {shard: 1, phase: 'failed', reason: 'destination unreachable'})}], seeded(busyCluster()))
    expect(s.log.at(-1)).toMatchObject({level: 'error', text: 'shard 1 n1 → n4: failed — destination unreachable'})
  })

  it('Given a node up, When its alive key is deleted, Then it is down and the log says so', () => {
    const s = reduce([{type: 'kv', at: T0 + 1, item: {key: KEYS.alive('n3'), value: null}}], seeded(busyCluster()))
    expect(s.alive.has('n3')).toBe(false)
    expect(s.log.at(-1)).toMatchObject({level: 'error', text: 'node n3 is down'})
  })

  it('Given the executor idle, When the lock appears and control pauses, Then both are logged', () => {
    const s = reduce(
      [
        {type: 'kv', at: T0 + 1, item: lock('shardctl demo')},
        {type: 'kv', at: T0 + 2, item: control(true, null)},
      ],
      seeded([meta(), node('n1')]),
    )
    expect(s.log.slice(-2).map((l) => l.text)).toEqual(['executor started: shardctl demo (pid 4242 on box)', 'moves paused'])
    expect(reduce([{type: 'kv', at: T0 + 3, item: control(true, 1024)}], s).log.at(-1)?.text).toBe('throttle set to 1.0 KiB/s')
  })

  it('Given an invalid value, When it arrives, Then it is ignored with a warning', () => {
    const s = reduce([{type: 'kv', at: T0 + 1, item: {key: KEYS.node('n9'), value: '{"id": 5}'}}], seeded([meta(), node('n1')]))
    expect(s.nodes.has('n9')).toBe(false)
    expect(s.log.at(-1)?.text).toMatch(/ignored an invalid value at .*nodes\/n9/)
  })

  it('Given the cluster token under the prefix, When seeded, Then nothing about it is kept', () => {
    const s = seeded([meta(), {key: KEYS.token, value: 'secret'}])
    expect(JSON.stringify([...s.nodes, ...s.log])).not.toContain('secret')
  })

  it('Given connected, When etcd goes away and comes back, Then it shows reconnecting, then connected, logging both', () => {
    const s1 = reduce([{type: 'connection', at: T0 + 1000, status: 'disconnected', error: 'ECONNREFUSED'}], seeded(busyCluster()))
    expect(s1.connection).toBe('reconnecting')
    expect(s1.connectionSince).toBe(T0 + 1000)
    expect(s1.lastError).toBe('ECONNREFUSED')
    const s2 = reduce([{type: 'connection', at: T0 + 5000, status: 'connected'}], s1)
    expect(s2.connection).toBe('connected')
    expect(s2.log.slice(-2).map((l) => l.text)).toEqual(['etcd unreachable: ECONNREFUSED; reconnecting', 'etcd reachable again'])
  })

  it('Given events before the first read, When they arrive, Then they are ignored (the read is authoritative)', () => {
    const s = reduce([{type: 'kv', at: T0, item: node('n1')}])
    expect(s.nodes.size).toBe(0)
  })

  it('Given moves, When ↓ and ↑ are pressed, Then the selection walks the display order and stays in range', () => {
    const base = seeded(busyCluster())
    expect(orderedMoves(base).map((m) => m.id)).toEqual(['m1', 'm0'])
    const down2 = reduce([{type: 'select', delta: 1}, {type: 'select', delta: 1}, {type: 'select', delta: 1}], base)
    expect(down2.ui.selected).toBe('m0')
    expect(reduce([{type: 'select', delta: -1}], down2).ui.selected).toBe('m1')
  })

  it('Given a selected running move, When c is pressed, Then a confirmation opens; dismiss closes it', () => {
    const asked = reduce([{type: 'select', delta: 1}, {type: 'askCancel'}], seeded(busyCluster()))
    expect(asked.ui.confirmCancel).toBe('m1')
    expect(reduce([{type: 'dismissCancel'}], asked).ui.confirmCancel).toBeNull()
  })

  it('Given a selected finished move, When c is pressed, Then no confirmation opens and the log explains', () => {
    const s = reduce([{type: 'select', delta: -1}, {type: 'askCancel'}], seeded(busyCluster()))
    expect(s.ui.selected).toBe('m0')
    expect(s.ui.confirmCancel).toBeNull()
    expect(s.log.at(-1)?.text).toBe('move m0 already finished (done)')
  })

  it('Given a selected move, When its record is deleted, Then the selection clears', () => {
    const s = reduce([{type: 'select', delta: 1}, {type: 'kv', at: T0 + 1, item: {key: KEYS.move('m1'), value: null}}], seeded(busyCluster()))
    expect(s.ui.selected).toBeNull()
  })

  it('Given many events, When the log overflows, Then only the last LOG_LIMIT lines are kept', () => {
    const actions = Array.from({length: LOG_LIMIT + 50}, (_, i) => ({type: 'notice' as const, at: T0 + i, level: 'info' as const, text: `line ${i}`}))
    const s = reduce(actions, seeded([meta()]))
    expect(s.log).toHaveLength(LOG_LIMIT)
    expect(s.log.at(-1)?.text).toBe(`line ${LOG_LIMIT + 49}`)
  })

  it('Given help hidden, When ? twice, Then it toggles on and off', () => {
    const s = reduce([{type: 'toggleHelp'}], seeded([meta()]))
    expect(s.ui.help).toBe(true)
    expect(reduce([{type: 'toggleHelp'}], s).ui.help).toBe(false)
  })

  it('Given a state, When an action changes nothing, Then the same object comes back (no re-render)', () => {
    const s = seeded([meta(), alive('n1'), shard(0, ['n1'])])
    expect(reduce([{type: 'dismissCancel'}], s)).toBe(s)
    expect(reduce([{type: 'tick', at: s.now}], s)).toBe(s)
  })
})

describe('topReducer: clients and copy series', () => {
  it('Given a router publishing totals and a copying move, When samples are taken, Then the series holds req/s, p99, copy rate and throttle', () => {
    const s = reduce(
      [
        {type: 'kv', at: T0 + 1, item: router('r1', 0, 1000, 0, 3)},
        {type: 'sample', at: T0 + 1000},
        {type: 'kv', at: T0 + 5001, item: router('r1', 5000, 1600, 0, 12)},
        {type: 'sample', at: T0 + 6000},
      ],
      seeded(busyCluster()),
    )
    expect(s.series.map((x) => [x.reqPerSec, x.p99Ms, x.copyRate, x.throttle, x.errors])).toEqual([
      [null, 3, 256 * 1024, 256 * 1024, 0],
      [120, 12, 256 * 1024, 256 * 1024, 0],
    ])
  })

  it('Given a router that reports new errors, When its entry arrives, Then the log says how many failed and the series counts them', () => {
    const s = reduce([{type: 'kv', at: T0 + 1, item: router('r1', 0, 10, 0, 3)}, {type: 'kv', at: T0 + 2, item: router('r1', 5000, 20, 2, 3)}, {type: 'sample', at: T0 + 3}], seeded(busyCluster()))
    expect(s.log.at(-1)).toMatchObject({level: 'error', text: 'router r1: 2 client request(s) failed'})
    expect(s.series.at(-1)?.errors).toBe(2)
  })

  it('Given a router whose lease ended, When its key is deleted, Then it leaves the figures; a sample before the first read is ignored', () => {
    const s = reduce([{type: 'kv', at: T0 + 1, item: router('r1', 0, 10, 0, 3)}, {type: 'kv', at: T0 + 2, item: {key: KEYS.router('r1'), value: null}}], seeded(busyCluster()))
    expect(s.routers.size).toBe(0)
    const unseeded = reduce([{type: 'sample', at: T0}])
    expect(unseeded.series).toEqual([])
  })

  describe('autopilot decisions', () => {
    const key = autopilotKeys(KEYS.prefix).state
    const at = (s: number) => new Date(T0 + s * 1000).toISOString()
    const decision = (s: number, kind: DecisionRecord['kind'], reason: string, plan: string | null = null, outcome: string | null = null): DecisionRecord => ({at: at(s), kind, reason, plan, outcome})
    const state = (leader: string, decisions: DecisionRecord[]): {key: string; value: string} => {
      const value: AutopilotState = {leader, leaderSince: at(0), updatedAt: at(0), nextCheckAt: null, dryRun: false, underReplicated: 0, history: {downSince: {}, aboveSince: null, movedAt: {}, spent: []}, decisions}
      return {key, value: JSON.stringify(value)}
    }
    const logAfter = (items: {key: string; value: string}[]) => {
      const start = seeded(busyCluster())
      const s = reduce(items.map((item, i) => ({type: 'kv', at: T0 + 1000 + i, item})), start)
      return s.log.slice(start.log.length).map((l) => `${l.level} ${l.text}`)
    }

    it('Given an autopilot that heals and then finishes, When its state changes, Then the log has its leadership, the decision with its reason and the outcome, once each', () => {
      const wait = decision(1, 'idle', 'balanced')
      const heal = decision(2, 'heal', 'node n5 down for 6s (dead after 5s)', 'auto-heal-1')
      expect(
        logAfter([
          state('autopilot a1', [wait]),
          state('autopilot a1', [wait, heal]),
          state('autopilot a1', [wait, {...heal, outcome: '3 done, 300 bytes copied in 2.0s'}]),
        ]),
      ).toEqual([
        'info autopilot: autopilot a1 leads',
        'info autopilot idle: balanced',
        'warn autopilot heal: node n5 down for 6s (dead after 5s) (plan auto-heal-1)',
        'info autopilot heal auto-heal-1: 3 done, 300 bytes copied in 2.0s',
      ])
    })

    it('Given a decision the autopilot repeats every check (refreshed in place), When each check is written, Then it is logged once', () => {
      const first = decision(1, 'wait', 'executor lock is held by alice')
      const lines = logAfter([state('autopilot a1', [first]), state('autopilot a1', [decision(2, 'wait', 'executor lock is held by alice')]), state('autopilot a1', [decision(3, 'wait', 'executor lock is held by alice')])])
      expect(lines).toEqual(['info autopilot: autopilot a1 leads', 'info autopilot wait: executor lock is held by alice'])
    })

    it('Given the leader dies and the standby takes over with its history, When the new state arrives, Then the new leader and its new decision are logged, not the old history again', () => {
      const heal = decision(2, 'heal', 'node n5 down', 'auto-heal-1')
      const resume = decision(9, 'resume', '3 recorded move(s) unfinished')
      const lines = logAfter([state('autopilot a1', [heal]), state('autopilot a2', [heal, resume]), state('autopilot a2', [heal, {...resume, outcome: 'failed: etcd unreachable'}])])
      expect(lines).toEqual([
        'info autopilot: autopilot a1 leads',
        'warn autopilot heal: node n5 down (plan auto-heal-1)',
        'info autopilot: autopilot a2 leads',
        'info autopilot resume: 3 recorded move(s) unfinished',
        'error autopilot resume: failed: etcd unreachable',
      ])
    })

    it('Given an invalid autopilot state, When it arrives, Then it is logged as ignored and the last good one is kept', () => {
      const start = reduce([{type: 'kv', at: T0 + 1, item: state('autopilot a1', [decision(1, 'idle', 'balanced')])}], seeded(busyCluster()))
      const s = reduce([{type: 'kv', at: T0 + 2, item: {key, value: '{"leader": 3}'}}], start)
      expect(s.autopilot?.leader).toBe('autopilot a1')
      expect(s.log.at(-1)).toMatchObject({level: 'warn', text: `ignored an invalid value at ${key}`})
    })
  })
})

describe('topReducer: --throttle auto steps', () => {
  const step = (action: ThrottleStepEvent['action']): ThrottleStepEvent => ({type: 'throttle', signal: "routers' client p99", p99Ms: 40, samples: 300, windowMs: 1000, ageMs: 200, targetP99Ms: 22, action, rateBytesPerSec: 4 * 1024 * 1024, flowingBytesPerSec: null, at: new Date(T0).toISOString()})

  it('logs the steps that changed the rate (a cut as a warning), not the holds that come every second', () => {
    const s = reduce(['hold', 'settling', 'cut', 'stale', 'raise'].map((a) => ({type: 'executor', event: step(a as ThrottleStepEvent['action'])})))
    expect(s.log.map((l) => l.level)).toEqual(['warn', 'info'])
    expect(s.log[0]?.text).toMatch(/^auto throttle: routers' client p99 40\.0 ms .* → copy rate cut to 4\.0 MiB\/s$/)
  })
})
