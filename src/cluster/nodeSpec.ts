import {UserError} from '../errors/errors.js'
import {AddressSchema, NodeIdSchema} from '../model/ids.js'

/** NodeSpec is one node as given on the command line: `id=host:port[@zone]`. */
export interface NodeSpec {
  id: string
  address: string
  zone: string
}

/**
 * parseNodeSpecs reads `id=host:port[@zone],...`. Throws UserError(BAD_INPUT) naming the
 * bad entry; ids and addresses must be unique.
 */
export function parseNodeSpecs(input: string): NodeSpec[] {
  const specs = input
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseNodeSpec)
  const ids = new Set<string>()
  const addrs = new Set<string>()
  for (const s of specs) {
    if (ids.has(s.id)) throw new UserError('BAD_INPUT', `--nodes lists node "${s.id}" twice`, 'give every node a distinct id')
    if (addrs.has(s.address)) throw new UserError('BAD_INPUT', `--nodes lists address ${s.address} twice`, 'give every node its own host:port')
    ids.add(s.id)
    addrs.add(s.address)
  }
  return specs
}

/** parseNodeSpec reads one `id=host:port[@zone]`. Throws UserError(BAD_INPUT). */
export function parseNodeSpec(entry: string): NodeSpec {
  const m = /^([^=]+)=([^@]+)(?:@(.+))?$/.exec(entry.trim())
  if (!m) throw new UserError('BAD_INPUT', `"${entry}" is not a node spec`, 'use id=host:port or id=host:port@zone, e.g. n1=127.0.0.1:7001@a')
  const id = NodeIdSchema.safeParse(m[1]!.trim())
  if (!id.success) throw new UserError('BAD_INPUT', `"${entry}": ${id.error.issues[0]?.message}`, 'e.g. n1=127.0.0.1:7001')
  const address = AddressSchema.safeParse(m[2]!.trim())
  if (!address.success) throw new UserError('BAD_INPUT', `node "${id.data}": address "${m[2]!.trim()}" is invalid: ${address.error.issues[0]?.message}`, 'e.g. 127.0.0.1:7001')
  const zone = (m[3] ?? 'default').trim()
  if (!/^[A-Za-z0-9_.-]{1,63}$/.test(zone)) throw new UserError('BAD_INPUT', `node "${id.data}": zone "${zone}" must be 1-63 letters, digits, "_", "." or "-"`, 'e.g. n1=127.0.0.1:7001@zone-a')
  return {id: id.data, address: address.data, zone}
}
