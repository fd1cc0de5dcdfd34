import {type NodeClient} from '../node/nodeClient.js'
import {type NodeClients} from '../node/nodeClients.js'

/** NodeClientLookup returns the pool that reaches node `node`, or undefined while the router knows no address for it. */
export type NodeClientLookup = (node: string) => NodeClient | undefined

/**
 * nodeClientLookup is how the router's parts (coordinator, hinted handoff, read repair)
 * reach a node: its pool in `clients` at the address `addresses` (the shard map view) gives
 * it at the time of the call, or undefined while it gives none (a node not registered yet).
 * The address is read on every call, not kept, so a node that moved is dialled at its new
 * address by the next request (NodeClients replaces a pool whose address changed).
 */
export function nodeClientLookup(addresses: {address(id: string): string | undefined}, clients: Pick<NodeClients, 'client'>): NodeClientLookup {
  return (node) => {
    const address = addresses.address(node)
    return address ? clients.client({id: node, address}) : undefined
  }
}
