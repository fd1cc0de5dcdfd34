import {withRedisNode} from '../../src/redis/redisConnection.js'

/** CHANGING_COMMANDS: the commands shardctl's slot migration sends that change a master, as INFO commandstats names them. */
export const CHANGING_COMMANDS = ['migrate', 'cluster|setslot', 'config|set', 'cluster|bumpepoch']

/**
 * changingCommandsSent counts, per "address command", every CHANGING_COMMANDS command the
 * masters at `addresses` received: executed, failed or refused (`rejected_calls`: a MIGRATE of
 * keys whose slot moved away is answered MOVED before it runs, and MONITOR never shows it).
 */
export async function changingCommandsSent(addresses: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const address of addresses) {
    const info = String(await withRedisNode(address, (r) => r.call('INFO', 'commandstats')))
    for (const line of info.split('\n')) {
      const m = /^cmdstat_([^:]+):(.*)$/.exec(line.trim())
      if (!m || !CHANGING_COMMANDS.includes(m[1]!)) continue
      const field = (name: string) => Number(new RegExp(`(?:^|,)${name}=(\\d+)`).exec(m[2]!)?.[1] ?? 0)
      out.set(`${address} ${m[1]}`, field('calls') + field('rejected_calls'))
    }
  }
  return out
}

/** sentSince lists what `after` counts beyond `before`, as "address command +n". */
export function sentSince(before: Map<string, number>, after: Map<string, number>): string[] {
  return [...after].filter(([k, n]) => n > (before.get(k) ?? 0)).map(([k, n]) => `${k} +${n - (before.get(k) ?? 0)}`)
}
