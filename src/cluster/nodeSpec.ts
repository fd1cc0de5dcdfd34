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
  // An empty --nodes (a variable left unset) read as zero nodes and was refused by --rf's count as "needs at least 1 nodes".
  if (specs.length === 0) throw new UserError('BAD_INPUT', `--nodes is empty${input.trim() === '' ? '' : ` ("${input}")`}`, 'list the nodes as id=host:port[@zone], comma-separated, e.g. --nodes n1=127.0.0.1:7001@a,n2=127.0.0.1:7002@b')
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

const ZONE_PATTERN = /^[A-Za-z0-9_.-]{1,63}$/
const ZONE_RULE = 'must be 1-63 letters, digits, "_", "." or "-"'

/** parseNodeSpec reads one `id=host:port[@zone]`. Throws UserError(BAD_INPUT). */
export function parseNodeSpec(entry: string): NodeSpec {
  const m = /^([^=]+)=([^@]+)(?:@(.+))?$/.exec(entry.trim())
  if (!m) throw new UserError('BAD_INPUT', `"${entry}" is not a node spec`, 'use id=host:port or id=host:port@zone, e.g. n1=127.0.0.1:7001@a')
  const id = NodeIdSchema.safeParse(m[1]!.trim())
  if (!id.success) throw new UserError('BAD_INPUT', `"${entry}": ${id.error.issues[0]?.message}`, 'e.g. n1=127.0.0.1:7001')
  const address = AddressSchema.safeParse(m[2]!.trim())
  // The schema's message carries its own example address; the hint shows the spec form instead.
  if (!address.success) throw new UserError('BAD_INPUT', `node "${id.data}": address "${m[2]!.trim()}" is invalid: ${address.error.issues[0]?.message}`, 'use id=host:port or id=host:port@zone, e.g. n1=127.0.0.1:7001@a')
  const zone = (m[3] ?? 'default').trim()
  if (!ZONE_PATTERN.test(zone)) throw new UserError('BAD_INPUT', `node "${id.data}": zone "${zone}" ${ZONE_RULE}`, 'e.g. n1=127.0.0.1:7001@zone-a')
  return {id: id.data, address: address.data, zone}
}

/** NodeFields are a node as `node add` and `node set` take it: an id argument, `--address` and `--zone` (absent: not given). */
export interface NodeFields {
  id: string
  address?: string
  zone?: string
}

/**
 * parseNodeFields checks each field on its own, by the rules of {@link parseNodeSpec}, and
 * names it as the operator typed it (the id, `--address`, `--zone`). Joining them into one
 * `id=address@zone` spec blamed the wrong field: an id `n=9` made the address `9=...`, a
 * zone `a@b` became `b@default`. Throws UserError(BAD_INPUT).
 */
export function parseNodeFields(fields: NodeFields): NodeFields {
  const id = NodeIdSchema.safeParse(fields.id)
  if (!id.success) throw new UserError('BAD_INPUT', `node id "${fields.id}" is invalid: ${id.error.issues[0]?.message}`, 'pick an id such as n4')
  let address: string | undefined
  if (fields.address !== undefined) {
    const parsed = AddressSchema.safeParse(fields.address.trim())
    if (!parsed.success) throw new UserError('BAD_INPUT', `--address "${fields.address}" is invalid: ${parsed.error.issues[0]?.message}`, 'pass the host:port the node serves on (its `node serve --listen`)')
    address = parsed.data
  }
  const zone = fields.zone?.trim()
  if (zone !== undefined && !ZONE_PATTERN.test(zone)) throw new UserError('BAD_INPUT', `--zone "${fields.zone}" ${ZONE_RULE}`, 'e.g. --zone zone-a')
  return {id: id.data, address, zone}
}
