import {describe, expect, it} from 'vitest'
import {LEASE_TRUSTED_SHARE, LeaseDeadline} from '../../src/etcd/leaseDeadline.js'

const trusted = (ttlSeconds: number) => ttlSeconds * 1000 * LEASE_TRUSTED_SHARE

describe('LeaseDeadline', () => {
  it('given a grant sent at t, then the lease is counted on until t plus the trusted share of its TTL, not after', () => {
    const d = new LeaseDeadline(1000, 2)
    expect(d.expiresAt()).toBe(1000 + trusted(2))
    expect(d.expired(1000 + trusted(2) - 1)).toBe(false)
    expect(d.expired(1000 + trusted(2))).toBe(true)
  })

  it('given an answered keepalive, then the deadline runs from when it was SENT, never from when its answer arrived', () => {
    const d = new LeaseDeadline(0, 3)
    d.renewed(1000, 3)
    expect(d.expiresAt()).toBe(1000 + trusted(3))
  })

  it('given an answer for an older keepalive after a newer one, then the deadline does not move back', () => {
    const d = new LeaseDeadline(0, 3)
    d.renewed(2000, 3)
    d.renewed(1000, 3)
    expect(d.expiresAt()).toBe(2000 + trusted(3))
  })

  it('given etcd grants more than was asked for, then only the requested TTL is counted on; an expired answer (TTL 0) renews nothing', () => {
    const d = new LeaseDeadline(0, 2)
    d.renewed(1000, 10)
    expect(d.expiresAt()).toBe(1000 + trusted(2))
    d.renewed(1500, 0)
    expect(d.expiresAt()).toBe(1000 + trusted(2))
  })

  it('given the deadline passed, when a late answer arrives, then the lease stays expired (the holder gave it up)', () => {
    const d = new LeaseDeadline(0, 2)
    expect(d.expired(trusted(2))).toBe(true)
    d.renewed(trusted(2) - 1, 2)
    expect(d.expired(trusted(2) + 1)).toBe(true)
  })
})
