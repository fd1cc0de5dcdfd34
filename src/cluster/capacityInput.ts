import {UserError} from '../errors/errors.js'
import {type Capacity, parseCapacity} from '../model/resources.js'

/** capacityFromFlag parses a `--capacity` value into a Capacity, as a BAD_INPUT UserError on failure. */
export function capacityFromFlag(input: string | undefined): Capacity | undefined {
  if (input === undefined) return undefined
  try {
    return parseCapacity(input)
  } catch (err) {
    throw new UserError('BAD_INPUT', `--capacity: ${(err as Error).message}`, 'e.g. --capacity reads=5000,writes=2000,bytes=100GiB')
  }
}
