import {describe, expect, it} from 'vitest'
import {NODE_REQUEST_TIMEOUT_MS} from '../../src/node/nodeClient.js'
import {NodeClients} from '../../src/node/nodeClients.js'

/** poolTimeoutOf reads the timeout a pool NodeClients made dials with (private to NodeClient). */
function poolTimeoutOf(clients: NodeClients): number {
  return (clients.client({id: 'n1', address: '127.0.0.1:9'}) as unknown as {timeoutMs: number}).timeoutMs
}

describe('NodeClients.peerSettings', () => {
  it('Given pools made with no timeout, Then the settings another thread dials with carry the same timeout as the pools (NodeClient\'s default)', async () => {
    const clients = new NodeClients({token: 't'})
    try {
      expect(clients.peerSettings().timeoutMs).toBe(poolTimeoutOf(clients))
      expect(clients.peerSettings().timeoutMs).toBe(NODE_REQUEST_TIMEOUT_MS)
    } finally {
      await clients.close()
    }
  })

  it('Given pools made with a timeout, Then the settings carry it', async () => {
    const clients = new NodeClients({token: 't', timeoutMs: 1234})
    try {
      expect(clients.peerSettings().timeoutMs).toBe(1234)
      expect(poolTimeoutOf(clients)).toBe(1234)
    } finally {
      await clients.close()
    }
  })
})
