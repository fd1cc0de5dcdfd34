import {describe, expect, it} from 'vitest'
import {hedgeDue} from '../../src/etcd/keepaliveHedge.js'

describe('hedgeDue', () => {
  // A 10 s lease is trusted 9 s after the newest answered keepalive was sent; keepalives go every 1 s.
  const sentAt = 1000
  const expiresAt = sentAt + 9000

  it('Given keepalives answered each second, When checked 2.9 s after the newest answered one was sent, Then no hedge is due', () => {
    expect(hedgeDue(sentAt + 2900, expiresAt, 10)).toBe(false)
  })

  it('Given three keepalives in a row unanswered, When checked past 3 s, Then keepalives go to every member', () => {
    expect(hedgeDue(sentAt + 3001, expiresAt, 10)).toBe(true)
  })
})
