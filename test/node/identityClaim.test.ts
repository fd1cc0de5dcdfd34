import {describe, expect, it} from 'vitest'
import {type Alive} from '../../src/model/node.js'
import {type AliveHolder, type ClaimInput, LAPSE_MARGIN_MS, answersAsHolder, decideClaim, describeHolder, lapseWaitMs} from '../../src/node/identityClaim.js'

const ME = 'me-instance'
const alive = (over: Partial<Alive> = {}): Alive => ({node: 'n1', address: '127.0.0.1:7001', pid: 4242, startedAt: '2026-12-04T06:00:00.000Z', instance: 'holder-instance', leaseTtlSeconds: 10, ...over})
const held = (value: Alive | undefined = alive(), modRevision = 77n): AliveHolder => ({value, lease: '694d8a1b', modRevision})
/** unreadable is an alive key whose value failed validation. */
const unreadable: AliveHolder = {value: undefined, lease: '694d8a1b', modRevision: 77n}
const input = (over: Partial<ClaimInput> = {}): ClaimInput => ({node: 'n1', instance: ME, held: held(), lapseWaited: false, ...over})

describe('decideClaim', () => {
  it('claims an absent alive key, comparing on its absence', () => {
    expect(decideClaim(input({held: undefined}))).toEqual({kind: 'claim', expectModRevision: 0n, why: 'absent'})
  })

  it('claims a key this very process wrote (re-registering after a lapsed lease) without probing itself', () => {
    expect(decideClaim(input({held: held(alive({instance: ME}))}))).toEqual({kind: 'claim', expectModRevision: 77n, why: 'own'})
  })

  it('re-registering after a lapsed lease: claims an absent key or its own, and is superseded by any other process key, answering or dead', () => {
    expect(decideClaim(input({recovering: true, held: undefined}))).toEqual({kind: 'claim', expectModRevision: 0n, why: 'absent'})
    expect(decideClaim(input({recovering: true, held: held(alive({instance: ME}))}))).toEqual({kind: 'claim', expectModRevision: 77n, why: 'own'})
    // The process that claimed the id meanwhile acknowledged writes into its own data dir: dead or not, it is not taken back.
    for (const probe of [undefined, {kind: 'refused'} as const, {kind: 'answered', node: 'n1', instance: 'holder-instance'} as const, {kind: 'silent', detail: 'timeout'} as const]) {
      expect(decideClaim(input({recovering: true, probe}))).toEqual({kind: 'refuse', why: 'superseded'})
    }
    expect(decideClaim(input({recovering: true, held: unreadable}))).toEqual({kind: 'refuse', why: 'superseded'})
    expect(decideClaim(input({recovering: true, held: held(alive({instance: undefined}))}))).toEqual({kind: 'refuse', why: 'superseded'})
  })

  it('asks the holder first when another process wrote the key', () => {
    expect(decideClaim(input())).toEqual({kind: 'probe', address: '127.0.0.1:7001'})
  })

  it('refuses while the holder answers as that node and instance: a second process must not take over a running node', () => {
    expect(decideClaim(input({probe: {kind: 'answered', node: 'n1', instance: 'holder-instance'}}))).toEqual({kind: 'refuse', why: 'running'})
  })

  it('refuses when a holder of an older build (no instance published) answers as the node', () => {
    expect(decideClaim(input({held: held(alive({instance: undefined})), probe: {kind: 'answered', node: 'n1'}}))).toEqual({kind: 'refuse', why: 'running'})
  })

  it('claims over a dead holder: connection refused (a restart after SIGKILL comes back at once)', () => {
    expect(decideClaim(input({probe: {kind: 'refused'}}))).toEqual({kind: 'claim', expectModRevision: 77n, why: 'dead'})
  })

  it('claims when another process answers at the holder address (another instance or another node)', () => {
    expect(decideClaim(input({probe: {kind: 'answered', node: 'n1', instance: 'someone-else'}}))).toMatchObject({kind: 'claim', why: 'moved'})
    expect(decideClaim(input({probe: {kind: 'answered', node: 'n2', instance: 'holder-instance'}}))).toMatchObject({kind: 'claim', why: 'moved'})
  })

  it('claims when this process answers at the holder address (restarted on the same port), even over a record without an instance', () => {
    expect(decideClaim(input({held: held(alive({instance: undefined})), probe: {kind: 'answered', node: 'n1', instance: ME}}))).toEqual({kind: 'claim', expectModRevision: 77n, why: 'moved'})
  })

  it('waits for the lease to lapse when the holder does not answer (frozen, partitioned): never takes over a live lease at once', () => {
    expect(decideClaim(input({probe: {kind: 'silent', detail: 'timed out after 2000 ms'}}))).toEqual({kind: 'wait', why: 'timed out after 2000 ms'})
  })

  it('refuses a silent holder whose key outlived the wait', () => {
    expect(decideClaim(input({probe: {kind: 'silent', detail: 'timed out'}, lapseWaited: true}))).toEqual({kind: 'refuse', why: 'unresponsive', detail: 'timed out'})
  })

  it('waits for a holder answering that it is stopping (it still acknowledges its in-flight writes), and refuses if it still holds the key after the wait', () => {
    const stopping = {kind: 'answered', node: 'n1', instance: 'holder-instance', stopping: true} as const
    expect(decideClaim(input({probe: stopping}))).toEqual({kind: 'wait', why: 'it is shutting down', stopping: true})
    expect(decideClaim(input({probe: stopping, lapseWaited: true}))).toEqual({kind: 'refuse', why: 'stopping'})
    // Another process stopping at the holder's address is not the holder: its key is left behind, as for any other answer there.
    expect(decideClaim(input({probe: {...stopping, instance: 'someone-else'}}))).toMatchObject({kind: 'claim', why: 'moved'})
    // Re-registering, it changes nothing: another process's key supersedes this one.
    expect(decideClaim(input({recovering: true, probe: stopping}))).toEqual({kind: 'refuse', why: 'superseded'})
  })

  it('treats an unreadable alive value as silent: waits, then refuses', () => {
    expect(decideClaim(input({held: unreadable}))).toMatchObject({kind: 'wait'})
    expect(decideClaim(input({held: unreadable, lapseWaited: true}))).toMatchObject({kind: 'refuse', why: 'unresponsive'})
  })
})

describe('answersAsHolder', () => {
  it('needs the same node id, and the same instance when both sides have one', () => {
    expect(answersAsHolder('n1', alive(), {node: 'n1', instance: 'holder-instance'})).toBe(true)
    expect(answersAsHolder('n1', alive(), {node: 'n1', instance: 'x'})).toBe(false)
    expect(answersAsHolder('n1', alive(), {node: 'n2', instance: 'holder-instance'})).toBe(false)
    expect(answersAsHolder('n1', alive(), {node: 'n1'})).toBe(true)
  })
})

describe('lapseWaitMs', () => {
  it('is the holder TTL plus half of it, at least the margin; the own TTL when the holder published none', () => {
    expect(lapseWaitMs(alive({leaseTtlSeconds: 10}), 3)).toBe(15_000)
    expect(lapseWaitMs(alive({leaseTtlSeconds: 2}), 30)).toBe(2000 + LAPSE_MARGIN_MS)
    expect(lapseWaitMs(alive({leaseTtlSeconds: undefined}), 4)).toBe(4000 + LAPSE_MARGIN_MS)
    expect(lapseWaitMs(undefined, 20)).toBe(30_000)
  })
})

describe('describeHolder', () => {
  it('names pid, address and registration time', () => {
    expect(describeHolder(held())).toBe('pid 4242 at 127.0.0.1:7001 (registered 2026-12-04T06:00:00.000Z)')
    expect(describeHolder(unreadable)).toBe('an unreadable alive record under lease 694d8a1b')
  })
})
