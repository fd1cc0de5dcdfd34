import {useInput, useStdin, useStdout} from 'ink'
import {useEffect, useMemo, useState} from 'react'
import {TopScreen} from './components/TopScreen.js'
import {nextThrottle} from './throttleSteps.js'
import {type TopStore} from './topStore.js'
import {deriveTopView} from './topView.js'
import {useTopState} from './useTopState.js'

/** TopCommands are what the keys do to the cluster; each resolves to a message for the event log. */
export interface TopCommands {
  setPaused(paused: boolean): Promise<string>
  setThrottle(bytesPerSec: number | null): Promise<string>
  cancelMove(id: string): Promise<string>
}

/** LiveTopProps: the store to show, the balance target, the key commands and what quitting does. */
export interface LiveTopProps {
  store: TopStore
  target: number
  commands: TopCommands
  onQuit: () => void
}

function useTerminalSize(): {columns: number; rows: number} {
  const {stdout} = useStdout()
  const read = () => ({columns: stdout.columns || 80, rows: stdout.rows || 24})
  const [size, setSize] = useState(read)
  useEffect(() => {
    const onResize = () => setSize(read())
    stdout.on('resize', onResize)
    return () => {
      stdout.off('resize', onResize)
    }
  }, [stdout])
  return size
}

/**
 * LiveTop connects the dashboard to its store and the keyboard: it derives the view from
 * the store's state (re-rendered at most 10 times a second), fits it to the terminal and
 * turns keys into store actions or cluster commands (whose outcome goes to the event log).
 */
export function LiveTop({store, target, commands, onQuit}: LiveTopProps) {
  const state = useTopState(store)
  const {columns, rows} = useTerminalSize()
  const {isRawModeSupported} = useStdin()
  const view = useMemo(() => deriveTopView(state, target), [state, target])

  const run = (what: string, p: Promise<string>) =>
    p.then(
      (text) => store.dispatch({type: 'notice', at: Date.now(), level: 'info', text}),
      (err: unknown) => store.dispatch({type: 'notice', at: Date.now(), level: 'error', text: `${what} failed: ${err instanceof Error ? err.message : String(err)}`}),
    )

  useInput(
    (input, key) => {
      const s = store.current()
      if (s.ui.confirmCancel !== null) {
        const id = s.ui.confirmCancel
        store.dispatch({type: 'dismissCancel'})
        if (input === 'y' || input === 'Y') void run('cancel', commands.cancelMove(id))
        return
      }
      if (input === 'q' || (key.ctrl && input === 'c')) return onQuit()
      if (key.upArrow) return store.dispatch({type: 'select', delta: -1})
      if (key.downArrow) return store.dispatch({type: 'select', delta: 1})
      if (input === '?') return store.dispatch({type: 'toggleHelp'})
      if (key.escape && s.ui.help) return store.dispatch({type: 'toggleHelp'})
      if (input === 'c') return store.dispatch({type: 'askCancel'})
      if (input === 'p') return void run('pause', commands.setPaused(!(s.control?.paused ?? false)))
      if (input === '+' || input === '=' || input === '-') {
        // The stream's rate: the throttle the keys step from spends stream bytes.
        const observed = [...s.moves.values()].filter((m) => m.phase === 'copying').reduce((a, m) => a + m.progress.rateBytesPerSec, 0)
        return void run('throttle', commands.setThrottle(nextThrottle(s.control?.throttleBytesPerSec ?? null, observed, input === '-' ? -1 : 1)))
      }
    },
    {isActive: isRawModeSupported === true},
  )

  return <TopScreen view={view} width={columns} height={rows} />
}
