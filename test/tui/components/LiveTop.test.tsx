import {render} from 'ink-testing-library'
import {describe, expect, it, vi} from 'vitest'
import {LiveTop, type TopCommands} from '../../../src/tui/LiveTop.js'
import {initialTopState} from '../../../src/tui/topState.js'
import {TopStore} from '../../../src/tui/topStore.js'
import {busyCluster, KEYS, T0} from '../fixtures.js'
import {plain} from './frame.js'

function setup() {
  const store = new TopStore(KEYS, initialTopState('demo', 'http://127.0.0.1:2379', T0), 0)
  store.dispatch({type: 'seeded', at: T0, items: busyCluster()})
  const commands: TopCommands = {
    setPaused: vi.fn(async (p: boolean) => `moves are now ${p ? 'paused' : 'running'}`),
    setThrottle: vi.fn(async (r: number | null) => `throttle set to ${r}`),
    cancelMove: vi.fn(async (id: string) => `cancel requested for ${id}`),
  }
  const onQuit = vi.fn()
  const app = render(<LiveTop store={store} target={1.1} commands={commands} onQuit={onQuit} />)
  return {store, commands, onQuit, app}
}

// Ink's first render in a fresh worker takes seconds on a loaded 2-core machine: 20 s per test, not the default 5.
describe('LiveTop', {timeout: 20_000}, () => {
  it('Given a running cluster, When p is pressed, Then moves are paused through the command and the outcome is logged', async () => {
    const {commands, app} = setup()
    await vi.waitFor(() => expect(plain(app.lastFrame())).toContain('executor running'))
    app.stdin.write('p')
    await vi.waitFor(() => expect(commands.setPaused).toHaveBeenCalledWith(true))
    await vi.waitFor(() => expect(plain(app.lastFrame())).toContain('moves are now paused'))
    app.unmount()
  })

  it('Given a throttle of 256 KiB/s, When + and - are pressed, Then the throttle doubles and halves', async () => {
    const {commands, app} = setup()
    await vi.waitFor(() => expect(plain(app.lastFrame())).toContain('throttle 256 KiB/s'))
    app.stdin.write('+')
    await vi.waitFor(() => expect(commands.setThrottle).toHaveBeenLastCalledWith(512 * 1024))
    app.stdin.write('-')
    await vi.waitFor(() => expect(commands.setThrottle).toHaveBeenLastCalledWith(128 * 1024))
    app.unmount()
  })

  it('Given a running move, When ↓ then c then y, Then that move is cancelled after the confirmation', async () => {
    const {commands, app} = setup()
    await vi.waitFor(() => expect(plain(app.lastFrame())).toContain('copying'))
    app.stdin.write('\u001B[B')
    await vi.waitFor(() => expect(plain(app.lastFrame())).toMatch(/▶ +1 +n1 → n4 +copying/))
    app.stdin.write('c')
    await vi.waitFor(() => expect(plain(app.lastFrame())).toContain('Cancel move of shard 1 n1 → n4?'))
    expect(commands.cancelMove).not.toHaveBeenCalled()
    app.stdin.write('y')
    await vi.waitFor(() => expect(commands.cancelMove).toHaveBeenCalledWith('m1'))
    await vi.waitFor(() => expect(plain(app.lastFrame())).not.toContain('Cancel move of shard'))
    app.unmount()
  })

  it('Given the confirmation, When any other key is pressed, Then nothing is cancelled', async () => {
    const {commands, app} = setup()
    app.stdin.write('\u001B[B')
    await vi.waitFor(() => expect(plain(app.lastFrame())).toMatch(/▶/))
    app.stdin.write('c')
    await vi.waitFor(() => expect(plain(app.lastFrame())).toContain('[y/N]'))
    app.stdin.write('n')
    await vi.waitFor(() => expect(plain(app.lastFrame())).not.toContain('[y/N]'))
    expect(commands.cancelMove).not.toHaveBeenCalled()
    app.unmount()
  })

  it('Given the dashboard, When ? then q, Then help shows and quitting calls onQuit', async () => {
    const {onQuit, app} = setup()
    await vi.waitFor(() => expect(plain(app.lastFrame())).toContain('EVENTS'))
    app.stdin.write('?')
    await vi.waitFor(() => expect(plain(app.lastFrame())).toContain('HELP'))
    app.stdin.write('q')
    await vi.waitFor(() => expect(onQuit).toHaveBeenCalled())
    app.unmount()
  })

  it('Given the dashboard, When etcd goes away, Then the frame shows reconnecting, and recovers when it returns', async () => {
    const {store, app} = setup()
    store.dispatch({type: 'connection', at: T0 + 1000, status: 'disconnected'})
    await vi.waitFor(() => expect(plain(app.lastFrame())).toContain('etcd DOWN — reconnecting'))
    store.dispatch({type: 'connection', at: T0 + 2000, status: 'connected'})
    await vi.waitFor(() => expect(plain(app.lastFrame())).toContain('· connected'))
    expect(plain(app.lastFrame())).toContain('etcd reachable again')
    app.unmount()
  })
})
