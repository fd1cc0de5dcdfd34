import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {setThrottle} from '../../src/executor/controlService.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

describe('setThrottle', () => {
  it('Given a rate, When set, Then the message gives it in the unit the operator typed it in, with the exact bytes/s beside it', async () => {
    const ctx = makeServiceContext(new MemoryStore(), {cluster: 'c'}, () => new Date(0))
    await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101'), force: false})
    const set = await setThrottle(ctx, 10 * 1024 * 1024)
    expect(set.control.throttleBytesPerSec).toBe(10 * 1024 * 1024)
    expect(set.message).toBe('throttle set to 10.0 MiB/s (10485760 B/s)')
    expect((await setThrottle(ctx, 10 * 1024 * 1024)).message).toBe('throttle already set to 10.0 MiB/s')
    expect((await setThrottle(ctx, 500)).message).toBe('throttle set to 500 B/s')
    expect((await setThrottle(ctx, null)).message).toBe("throttle set to the executor's --throttle")
  })
})
