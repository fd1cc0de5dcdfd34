import {describe, expect, it} from 'vitest'
import {readAutopilotControl, setAutopilotPaused} from '../../src/autopilot/autopilotService.js'
import {getControl} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {isUserError} from '../../src/errors/errors.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {etcdCommands} from '../../src/tui/etcdCommands.js'

async function cluster() {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'tui'}, () => new Date(0))
  await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7301,n2=127.0.0.1:7302'), force: false})
  return {store, ctx}
}

describe("top's p key", () => {
  it('Given nothing paused, When p then r, Then both the moves and the autopilot pause, and both resume', async () => {
    const {ctx} = await cluster()
    const cmds = etcdCommands(ctx)
    expect(await cmds.setPaused(true)).toBe('moves are now paused; autopilot is now paused')
    expect((await getControl(ctx)).paused).toBe(true)
    expect((await readAutopilotControl(ctx)).paused).toBe(true)
    expect(await cmds.setPaused(false)).toBe('moves are now running (resumed); autopilot is now active (resumed)')
    expect((await getControl(ctx)).paused).toBe(false)
    expect((await readAutopilotControl(ctx)).paused).toBe(false)
  })

  it('Given only the autopilot paused (by `autopilot pause`), When p, Then the moves pause too and the message says the autopilot already was', async () => {
    const {ctx} = await cluster()
    const cmds = etcdCommands(ctx)
    await setAutopilotPaused(ctx, true)
    expect(await cmds.setPaused(true)).toBe('moves are now paused; autopilot was already paused')
    expect((await getControl(ctx)).paused).toBe(true)
  })

  it('Given an unknown cluster, When p, Then NOT_FOUND and neither switch is written', async () => {
    const {store} = await cluster()
    const other = makeServiceContext(store, {cluster: 'nope'}, () => new Date(0))
    const before = await store.revision()
    const err = await etcdCommands(other).setPaused(true).catch((e: unknown) => e)
    expect(isUserError(err, 'NOT_FOUND')).toBe(true)
    expect(await store.revision()).toBe(before)
  })
})
