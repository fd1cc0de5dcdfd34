import {describe, expect, it} from 'vitest'
import {resolveOpenSlotSides} from '../../src/redis/openSlotSides.js'

/**
 * Review (s18, review-a): two live masters serve the open slot by their own views. This is a
 * failed-over source that was stopped past cluster-node-timeout and has just resumed: until
 * gossip demotes it (an UPDATE from the replica that took over), it answers as a master that
 * owns the slot and still marks it MIGRATING, while its former replica (promoted, newer config
 * epoch, the newer values) serves it too. resolveOpenSlotSides keeps the stale master as the
 * source because both marked sides look live, so `redis fix` would MIGRATE its stale keys
 * with REPLACE to the target and assign the slot there, above the successor's epoch: the
 * successor then drops the slot and the writes it took since the failover. Expected: refuse
 * while another live master also claims the slot (not new in bad452a: the old code had no
 * such check either; the window is short, between SIGCONT and the first UPDATE).
 */
describe('resolveOpenSlotSides with two masters claiming the slot', () => {
  it('refuses when a live master other than the marked source also serves the slot', () => {
    expect(resolveOpenSlotSides({source: 'S', target: 'T', masters: [{id: 'S', owns: true, keys: 80}, {id: 'S2', owns: true, keys: 85}, {id: 'T', owns: false, keys: 120}]})).toBeUndefined()
  })
})
