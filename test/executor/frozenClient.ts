import {type Txn} from '../../src/store/store.js'
import {type MemoryStore} from '../../src/store/memoryStore.js'

/**
 * clientFrozenAfter opens another client on `store` (a second process on the same etcd) that
 * freezes for good, as a SIGKILLed process does, right after the first commit that lands a put
 * matching `killedBy`: every later commit of it hangs and lands nothing. `dead` resolves at its
 * first commit after the freeze (the process would have written next); `expireLeases` then ends
 * every live lease, the dead process's included (its lock lapses).
 */
export function clientFrozenAfter(store: MemoryStore, killedBy: (put: {key: string; value: string}) => boolean): {client: MemoryStore; dead: Promise<void>; expireLeases: () => void} {
  const client = store.connect()
  const commit = client.commit.bind(client)
  let frozen = false
  let killed!: () => void
  const dead = new Promise<void>((r) => (killed = r))
  client.commit = async (txn: Txn) => {
    if (frozen) {
      killed()
      return new Promise<bigint | undefined>(() => {})
    }
    const rev = await commit(txn)
    if (rev !== undefined && (txn.puts ?? []).some(killedBy)) frozen = true
    return rev
  }
  return {client, dead, expireLeases: () => store.leaseIds().forEach((lease) => store.expireLease(lease))}
}
