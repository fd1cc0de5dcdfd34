import {useSyncExternalStore} from 'react'
import {type TopState} from './topState.js'
import {type TopStore} from './topStore.js'

/** useTopState is the TUI's one store hook: the store's state, re-rendering at most 10 times a second. */
export function useTopState(store: TopStore): TopState {
  return useSyncExternalStore(store.subscribe, store.getState, store.getState)
}
