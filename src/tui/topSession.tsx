import {render} from 'ink'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {etcdCommands} from './etcdCommands.js'
import {type LiveFeed, startLiveFeed} from './liveFeed.js'
import {LiveTop} from './LiveTop.js'
import {type TopStore} from './topStore.js'

/** TopSessionOptions configure a live dashboard. */
export interface TopSessionOptions {
  /** target is the balance target the header compares the imbalance with. */
  target: number
  /** onQuit is called when the user presses q or Ctrl-C (the session keeps running until stop()). */
  onQuit: () => void
  /** alternateScreen draws on the terminal's alternate screen and restores the shell's screen at the end (default true). */
  alternateScreen?: boolean
  /** live is a feed already started (startLiveFeed) while this module loaded; the session owns and stops it. Default: one started now. */
  live?: LiveFeed
}

/** TopSession is a running dashboard: its store (callers may dispatch into it) and stop(). */
export interface TopSession {
  store: TopStore
  /** stop unmounts the screen, ends the etcd watch and restores the terminal. Idempotent. */
  stop(): Promise<void>
}

/**
 * startTopSession renders the live dashboard on the process's terminal, fed by one etcd
 * read plus one watch of the cluster (see startEtcdFeed), with a one-second sample for
 * the sparklines (a tick for the "down for" counter while etcd is unreachable). Ink renders at most 10 frames a
 * second, incrementally, on the alternate screen.
 */
export function startTopSession(ctx: ServiceContext, opts: TopSessionOptions): TopSession {
  const {store, feed} = opts.live ?? startLiveFeed(ctx)
  // One sample a second feeds the sparklines (and the "down for" counter while etcd is away).
  const ticker = setInterval(() => {
    const at = Date.now()
    if (store.current().connection !== 'connected') store.dispatch({type: 'tick', at})
    else store.dispatch({type: 'sample', at})
  }, 1000)
  const alt = opts.alternateScreen !== false
  if (alt) process.stdout.write('\x1b[?1049h\x1b[H')
  const ink = render(<LiveTop store={store} target={opts.target} commands={etcdCommands(ctx)} onQuit={opts.onQuit} />, {exitOnCtrlC: false, patchConsole: false, maxFps: 10})
  let stopping: Promise<void> | undefined
  return {
    store,
    stop() {
      stopping ??= (async () => {
        clearInterval(ticker)
        ink.unmount()
        ink.cleanup()
        store.close()
        if (alt) process.stdout.write('\x1b[?1049l')
        await feed.stop()
      })()
      return stopping
    },
  }
}
