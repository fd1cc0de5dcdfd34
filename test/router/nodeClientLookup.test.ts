import {afterEach, describe, expect, it} from 'vitest'
import {NodeClients} from '../../src/node/nodeClients.js'
import {nodeClientLookup} from '../../src/router/nodeClientLookup.js'

const clients: NodeClients[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close()
})

/** Given node addresses the test edits (the shard map view's) and real pools that are never dialled. */
function setup() {
  const addresses = new Map<string, string>()
  const pools = new NodeClients({token: 't'})
  clients.push(pools)
  return {addresses, lookup: nodeClientLookup({address: (id) => addresses.get(id)}, pools)}
}

describe('nodeClientLookup', () => {
  it('Given a node with no known address, Then there is no client for it', () => {
    const {lookup} = setup()
    expect(lookup('n1')).toBeUndefined()
  })

  it('Given a node with an address, Then its client is the one pool at that address, the same on every call', () => {
    const {addresses, lookup} = setup()
    addresses.set('n1', '127.0.0.1:7001')
    const c = lookup('n1')
    expect(c).toMatchObject({node: 'n1', address: '127.0.0.1:7001'})
    expect(lookup('n1')).toBe(c)
  })

  it('Given a node whose address changes, Then the next call reaches it at the new address (read per call, not kept)', () => {
    const {addresses, lookup} = setup()
    addresses.set('n1', '127.0.0.1:7001')
    lookup('n1')
    addresses.set('n1', '127.0.0.1:7002')
    expect(lookup('n1')?.address).toBe('127.0.0.1:7002')
    addresses.delete('n1')
    expect(lookup('n1')).toBeUndefined()
  })
})
