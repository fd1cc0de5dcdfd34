import {Flags} from '@oclif/core'
import {JsonLinesCommand} from '../../src/cli/baseCommand.js'
import {DATA_PLANE_TLS_FLAGS, capacityFlag, diskReserveFlag, durationFlag, listenFlag, withDefault, timerBound} from '../../src/cli/flags.js'
import {parseDiskReserve} from '../../src/node/diskReservePolicy.js'
import {parseDuration} from '../../src/model/units.js'
import {jsonLineLog} from '../../src/node/nodeLog.js'
import {serveOptions} from '../../src/node/serveOptions.js'
import {serveNode, type StopSummary} from '../../src/node/storageNode.js'
import {exitAfterStop} from '../../src/daemon/exitAfterStop.js'
import {StopSignals} from '../../src/daemon/stopSignals.js'
import {surviveLostLogReader} from '../../src/daemon/lostLogReader.js'
import {announceReady} from '../../src/daemon/readyLine.js'

export default class NodeServe extends JsonLinesCommand {
  static override summary = 'Run a storage node: serve its shards over HTTP until SIGTERM.'
  static override description =
    'Runs a node the cluster already has (from `cluster init` or `node add`: an --id it does not have is refused with exit 1 and the `node add` to run first; an --id another process already serves, with exit 8 naming that process, changing nothing (one that is stopping is waited for, up to 1.5 × its lease TTL); a --data-dir other than the one the id last served from while the id still holds replicas (a replaced disk, a mistyped path), with exit 2 and the fix, changing nothing; a --data-dir another process holds open (its serve.lock: a frozen process keeps it and must be killed), with exit 8 naming that pid after 3 s, changing nothing). Updates its record nodes/<id> (address, zone, capacity), registers leased alive/<id>, follows the shard map, serves the shards it holds a replica of and publishes load stats under leased keys (per-replica load in pages loads/<id>/<page>, totals in stats/<id>). Once it serves it prints one line on stdout, `node <id> serving cluster <name> on <host:port>`, naming the address it registered: with --listen HOST:0 (any free port) the port it bound (port 0 with --advertise, or on a wildcard host, is refused with exit 2). With --json stdout is JSON lines: that line is `{"type":"ready","role":"node","id":…,"cluster":…,"address":"host:port"}`, and the stop summary (or error) is one last line with `"type":"result"`. Logs are JSON lines on stderr. SIGTERM (or SIGINT) refuses new requests (503, /healthz says stopping), drains in-flight ones and exits 0 within --shutdown-timeout plus at most 7 s for etcd (final write mark, lease revoke: best effort, so an etcd that does not answer cannot hold the stop; the lease then expires by its TTL), closing its port only after its lease is revoked; one during start-up stops the node too, revoking its lease if it took one; a second signal exits at once with code 1 (0 once the stop is done: it only cuts the last second of waiting for etcd calls).'
  static override examples = [
    '<%= config.bin %> node serve --id n1 --listen 127.0.0.1:7001 --data-dir ./data/n1 --zone a',
    '<%= config.bin %> node serve --id n3 --listen 127.0.0.1:0 --data-dir ./data/n3',
    '<%= config.bin %> node serve --id n2 --listen 0.0.0.0:7002 --advertise 10.0.0.2:7002 --data-dir /var/lib/shardctl --stats-interval 2s',
    '<%= config.bin %> node serve --id n1 --listen 127.0.0.1:7001 --data-dir ./data/n1 --tls-cert certs/node.n1.crt --tls-key certs/node.n1.key --tls-ca certs/ca.crt',
  ]
  // Every daemon flag also reads SHARDCTL_NODE_<FLAG> (systemd, Kubernetes); a flag on the command line wins.
  static override flags = {
    id: Flags.string({description: 'node id', required: true, env: 'SHARDCTL_NODE_ID'}),
    listen: listenFlag({description: 'HOST:PORT to listen on (port 0: any free port)', required: true, env: 'SHARDCTL_NODE_LISTEN'}),
    advertise: Flags.string({description: 'HOST:PORT others reach this node at (default: --listen)', env: 'SHARDCTL_NODE_ADVERTISE'}),
    'data-dir': Flags.string({description: "directory of the node's database", required: true, env: 'SHARDCTL_NODE_DATA_DIR'}),
    zone: Flags.string({description: 'failure zone (recorded in the node record)', env: 'SHARDCTL_NODE_ZONE'}),
    capacity: capacityFlag({description: 'per-resource capacity, e.g. reads=5000,writes=2000,bytes=100GiB', env: 'SHARDCTL_NODE_CAPACITY'}),
    token: Flags.string({description: 'cluster token (default: the one in etcd, created if absent)', env: 'SHARDCTL_TOKEN'}),
    'stats-interval': durationFlag({...timerBound('how often to publish load stats (a change of the replicas the node holds is published at once)'), min: 100, env: 'SHARDCTL_NODE_STATS_INTERVAL', ...withDefault('5s', parseDuration)}),
    'lease-ttl': durationFlag({...timerBound('TTL of the alive/stats lease (whole seconds)'), min: 2000, env: 'SHARDCTL_NODE_LEASE_TTL', ...withDefault('10s', parseDuration)}),
    'tombstone-grace': durationFlag({description: 'stale-write window: client writes older than this are refused, and tombstones older than this may be purged once anti-entropy has confirmed every replica (run every grace/4); give every node the same one: while alive nodes publish different graces, no tombstone is purged', env: 'SHARDCTL_NODE_TOMBSTONE_GRACE', ...withDefault('1h', parseDuration)}),
    'shutdown-timeout': durationFlag({description: 'deadline for draining in-flight requests on SIGTERM', env: 'SHARDCTL_NODE_SHUTDOWN_TIMEOUT', ...withDefault('10s', parseDuration)}),
    'orphan-grace': durationFlag({description: 'how long data of a range this node holds no role for is kept before it is removed (leftovers of moves whose drop never reached the node); never a range an unfinished move naming this node as its source or destination may need (an aborted or rolled-back move keeps the destination\'s copy while its source is down), the grace counting from when the move ended; nothing is removed while the moves cannot be read from etcd', min: 1000, env: 'SHARDCTL_NODE_ORPHAN_GRACE', ...withDefault('10m', parseDuration)}),
    'max-clock-offset': durationFlag({description: "the cluster's bound on clock offset between members: writes stamped further ahead are refused, and this node stops taking writes while its clock is off its peers by more", min: 1, env: 'SHARDCTL_MAX_CLOCK_OFFSET', ...withDefault('500ms', parseDuration)}),
    'disk-reserve': diskReserveFlag({description: "space kept in a file in the data dir and given up only so that drops, aborts, orphan sweeps and tombstone purges can free a full disk (client writes never use it); auto: 1% of the disk, at most 64MiB; 0: off", env: 'SHARDCTL_NODE_DISK_RESERVE', ...withDefault('auto', parseDiskReserve)}),
    // No SHARDCTL_NODE_ variable, unlike the others: left in a unit file or pod spec it would turn the check off for every later start.
    'accept-empty-data': Flags.boolean({description: "serve even though --data-dir is not the dir this node id last served from, or is a copy of it older than what the node served (a restored backup or snapshot), and the id still holds replicas (a lost disk at rf 1, or a write floor that lets no drain copy without it): RISK: the node answers for those replicas without their data, so reads may miss acknowledged writes until `shardctl repair` copies them back from the other replicas, and at rf 1 they are lost; where other replicas hold a shard, the dir's values older than --tombstone-grace in it are forgotten before serving (a delete purged since must not come back) and repair copies the live ones back; prefer the old dir, or `shardctl node drain` the id first", default: false}),
    fsync: Flags.string({description: 'full: fsync every commit (durable on power loss); normal: fsync at checkpoints only', options: ['full', 'normal'], default: 'full', env: 'SHARDCTL_NODE_FSYNC'}),
    // With them the node serves mutual TLS only: peers need a certificate of the same CA.
    ...DATA_PLANE_TLS_FLAGS,
  }

  async run(): Promise<StopSummary> {
    const {flags} = await this.parse(NodeServe)
    // A log reader that goes away must not take the node down (its lines are lost instead).
    surviveLostLogReader()
    const opts = serveOptions(flags, jsonLineLog({node: flags.id}))
    // Watched from here to the process's end: a second signal while the stop runs exits 1, one in the exit linger after it 0.
    const signals = new StopSignals()
    const ctx = await this.services(flags)
    // The ready line: the address the node registered, its bound port when --listen asked for port 0.
    const ready = (address: string) => announceReady({role: 'node', id: flags.id, cluster: ctx.cluster, address}, this.jsonEnabled())
    const summary = await serveNode(ctx, opts, signals, ready)
    this.log(`node ${summary.node} stopped (${summary.reason})${summary.abandoned ? `; ${summary.abandoned} request(s) cut at the deadline` : ''}`)
    signals.stopped()
    exitAfterStop()
    return summary
  }
}
