import {type Capacity} from '../model/resources.js'
import {formatBytes} from '../model/units.js'

/** formatCapacity renders a capacity as `reads=5000 writes=2000 bytes=100 GiB`, or `uniform` when empty. */
export function formatCapacity(c: Capacity): string {
  const parts = [c.reads === undefined ? '' : `reads=${c.reads}`, c.writes === undefined ? '' : `writes=${c.writes}`, c.bytes === undefined ? '' : `bytes=${formatBytes(c.bytes).replace(' ', '')}`].filter(Boolean)
  return parts.length ? parts.join(' ') : 'uniform'
}
