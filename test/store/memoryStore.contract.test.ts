import {MemoryStore} from '../../src/store/memoryStore.js'
import {describeStoreContract} from './storeContract.js'

describeStoreContract('MemoryStore', async () => {
  const root = new MemoryStore()
  const clients: MemoryStore[] = [root]
  const open = () => {
    const c = root.connect()
    clients.push(c)
    return c
  }
  return {
    open,
    openCuttable: open,
    expireLease: async (id) => root.expireLease(id),
    cut: async () => root.dropWatches({stayDown: true}),
    restore: async () => root.reconnectWatches(),
    waitMs: 2000,
    dispose: async () => {
      for (const c of clients) c.close()
    },
  }
})
