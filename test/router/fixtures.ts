import {type Replica, type Shard} from '../../src/model/shard.js'

/** shardOf builds a shard for router tests: `spec` is `n1 n2 n3:joining`-style node:role pairs (role defaults to voter). */
export function shardOf(id: number, spec: string, opts: {epoch?: number; lo?: number; hi?: number} = {}): Shard {
  const replicas: Replica[] = spec
    .split(/\s+/)
    .filter(Boolean)
    .map((p) => {
      const [node, role] = p.split(':')
      return {node: node!, role: (role ?? 'voter') as Replica['role']}
    })
  return {id, range: {lo: opts.lo ?? 0, hi: opts.hi ?? 2 ** 32}, epoch: opts.epoch ?? 1, replicas}
}
