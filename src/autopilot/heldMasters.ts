/**
 * Masters held out of the autopilot's plans by a move's unacknowledged warning of possible data
 * loss (a redis master restarted without persistence mid-move; model/move.ts lossWarnings), and
 * the note every decision's reason carries about them. Pure.
 */

/** HELD_NAMED_MAX bounds how many moves a reason names per node, and how many `moves ack` commands it spells: a cluster of many warned moves keeps a reason one readable line. */
export const HELD_NAMED_MAX = 5

/**
 * heldNodes maps each node of `held` to the moves naming it, each move once, in the order
 * first seen. A move is acknowledged as a whole (`moves ack ID`), so a node stays held until
 * every move naming it is.
 */
export function heldNodes(held: readonly {node: string; move: string}[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const h of held) {
    const moves = out.get(h.node) ?? []
    if (!moves.includes(h.move)) moves.push(h.move)
    out.set(h.node, moves)
  }
  return out
}

/**
 * heldNote is the clause a decision's reason ends with while `held` nodes (those the snapshot
 * knows) wait for an operator: every such node with its moves, and one `shardctl moves ack ID`
 * per move needed (the first HELD_NAMED_MAX, then how many more, which `cluster status` lists);
 * null when none is held. Before, only the first move's ack was named: an operator who ran it
 * found the master still held, with no word of the others.
 */
export function heldNote(held: ReadonlyMap<string, readonly string[]>, known: ReadonlySet<string>): string | null {
  const nodes = [...held].filter(([node]) => known.has(node))
  if (nodes.length === 0) return null
  const named = nodes.map(([node, moves]) => `${node} (${moves.length === 1 ? 'move' : 'moves'} ${upTo(moves, HELD_NAMED_MAX)})`)
  const acks = [...new Set(nodes.flatMap(([, moves]) => moves))]
  const commands = acks.slice(0, HELD_NAMED_MAX).map((m) => `\`shardctl moves ack ${m}\``).join(', ')
  const rest = acks.length > HELD_NAMED_MAX ? ` and ${acks.length - HELD_NAMED_MAX} more (\`cluster status\` lists every one)` : ''
  return `no move onto or off ${named.join(', ')}: a warning says it restarted without persistence and may have lost keys; check them, then ${commands}${rest}`
}

/** upTo is the first `max` of `items` joined by commas, then `and N more` when there are others. */
function upTo(items: readonly string[], max: number): string {
  return items.slice(0, max).join(', ') + (items.length > max ? ` and ${items.length - max} more` : '')
}
