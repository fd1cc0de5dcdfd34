import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {formatRow, tableHeader} from '../../src/cli/table.js'
import {getMeta, getNode} from '../../src/cluster/clusterRepo.js'
import {scanShards, SHARD_STATES} from '../../src/cluster/shardScan.js'
import {type Shard} from '../../src/model/shard.js'

const COLUMNS = ['SHARD', 'RANGE', 'EPOCH', 'REPLICAS']
// RANGE fits the widest 32-bit hash range, "[4026531840, 4294967296)": rows are printed
// before the widest is known, and a narrower column shifted every later column on most rows.
const WIDTHS = [5, 24, 5, 0]
const RIGHT = [0, 2]

export default class ShardList extends EtcdCommand {
  static override summary = 'List shards with their hash ranges, epochs and replicas.'
  static override description = 'Streams: rows (or, with --json, one JSON object per line) are written as they are read, so memory stays flat however many shards the cluster has.'
  static override examples = ['<%= config.bin %> shard list', '<%= config.bin %> shard list --node n2 --state moving --json', '<%= config.bin %> shard list --limit 20']
  // JSON lines, written while reading: not oclif's one document at the end.
  static override enableJsonFlag = false
  static override flags = {
    node: Flags.string({description: 'only shards with a replica on this node'}),
    state: Flags.string({description: 'only `stable` shards or `moving` ones (a move in flight)', options: [...SHARD_STATES]}),
    limit: Flags.integer({description: 'stop after this many shards', min: 1}),
    json: Flags.boolean({description: 'one JSON object per shard per line (JSON lines)'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ShardList)
    const ctx = await this.services(flags)
    await getMeta(ctx) // a missing cluster is an error, not an empty list
    if (flags.node !== undefined) await getNode(ctx, flags.node) // so is a mistyped node id
    if (!flags.json) process.stdout.write(tableHeader(COLUMNS, WIDTHS, RIGHT))
    for await (const s of scanShards(ctx, {node: flags.node, state: flags.state as 'stable' | 'moving' | undefined, limit: flags.limit})) {
      const line = flags.json ? `${JSON.stringify(s)}\n` : formatRow(row(s), WIDTHS, RIGHT)
      // Respect back-pressure: a slow pipe (| less) must not make the process buffer the map.
      if (!process.stdout.write(line)) await new Promise((resolve) => process.stdout.once('drain', resolve))
    }
  }
}

function row(s: Shard): string[] {
  return [String(s.id), `[${s.range.lo}, ${s.range.hi})`, String(s.epoch), s.replicas.map((r) => (r.role === 'voter' ? r.node : `${r.node}(${r.role})`)).join(' ')]
}
