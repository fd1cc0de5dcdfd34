import {type CopyPullerDeps} from './copyPuller.js'
import {type NodeMetrics} from './nodeMetrics.js'
import {recordsDataBytes} from './protocol.js'

/** CopyEngine is the store a CopyPuller writes through. */
export type CopyEngine = CopyPullerDeps['engine']

/**
 * meteredCopyEngine is the store a node's CopyPuller writes through: `engine` itself, with
 * every committed copy batch counted as an apply of kind `copy` in /metrics (as relayed
 * copies were). Every argument reaches the engine: an adapter that listed four of them once
 * dropped `durable`, and every copy slice of a real node was fsync'd.
 */
export function meteredCopyEngine(engine: CopyEngine, metrics: Pick<NodeMetrics, 'applied'> | undefined): CopyEngine {
  return {
    applyCopyBatch: async (...args: Parameters<CopyEngine['applyCopyBatch']>) => {
      // Counted before the call: records may view a batch the call hands to the writer thread, empty once it returns.
      const bytes = recordsDataBytes(args[0])
      const result = await engine.applyCopyBatch(...args)
      metrics?.applied('copy', bytes)
      return result
    },
    metaValue: (name) => engine.metaValue(name),
    setMetaValue: (name, value) => engine.setMetaValue(name, value),
    adoptFloors: (range, floors, dropValuesBelow) => engine.adoptFloors(range, floors, dropValuesBelow),
    copyFrameSlabs: () => engine.copyFrameSlabs?.(),
  }
}
