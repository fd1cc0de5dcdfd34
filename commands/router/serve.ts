import {Flags} from '@oclif/core'
import {JsonLinesCommand} from '../../src/cli/baseCommand.js'
import {DATA_PLANE_TLS_FLAGS, durationFlag, listenFlag, tlsPathsOf, withDefault, timerBound} from '../../src/cli/flags.js'
import {setDefaultClientTls} from '../../src/transport/clientTls.js'
import {loadTlsMaterial} from '../../src/transport/tlsMaterial.js'
import {formatListen, parseDuration, parseListen} from '../../src/model/units.js'
import {jsonLog} from '../../src/log/jsonLog.js'
import {defaultRouterId, startRouter} from '../../src/router/routerService.js'
import {StopSignals} from '../../src/daemon/stopSignals.js'
import {exitAfterStop} from '../../src/daemon/exitAfterStop.js'
import {surviveLostLogReader} from '../../src/daemon/lostLogReader.js'
import {announceReady} from '../../src/daemon/readyLine.js'

export default class RouterServe extends JsonLinesCommand {
  static override summary = 'Run a router: the quorum read/write proxy clients talk to.'
  static override description = `Serves PUT/GET/DELETE /kv/{key}, /healthz and /metrics over HTTP/1.1 keep-alive. Follows the shard map in etcd, writes to every write replica and acknowledges at w (joint quorum during moves), reads r voters and read-repairs stale ones, and retries transparently after a node's stale-epoch refusal. Registers under the leased routers/<id> with the map revision and epochs it has applied; before that, lowers the cluster's write floor to its --w (never raised: one --w 1 router makes every later move with a down source wait for the source; see docs/moves.md) and does not start if it cannot. Once it serves it prints one line on stdout, \`router <id> serving cluster <name> on <host:port>\`, naming the address it registered (with --listen HOST:0 the port it bound); with --json stdout is JSON lines: that line is \`{"type":"ready","role":"router","id":…,"cluster":…,"address":"host:port"}\`, and the stop summary (or error) is one last line with \`"type":"result"\`. SIGTERM stops accepting, finishes in-flight requests (bounded by --drain-timeout) and exits 0 at most about 5 s later, even when etcd does not answer (its lease then expires by its TTL); a SIGTERM during start-up stops it as soon as it has started (a second one exits at once: 1 while it stops, 0 once it has stopped).`
  static override examples = [
    '<%= config.bin %> router serve --listen 127.0.0.1:7000',
    '<%= config.bin %> router serve --listen 127.0.0.1:0 --id r1 --w 2 --r 2',
    '<%= config.bin %> router serve --listen 127.0.0.1:7443 --tls-cert certs/node.r1.crt --tls-key certs/node.r1.key --tls-ca certs/ca.crt',
  ]
  // Every daemon flag also reads SHARDCTL_ROUTER_<FLAG> (systemd, Kubernetes); a flag on the command line wins.
  static override flags = {
    listen: listenFlag({description: 'host:port to serve on (port 0 picks a free one)', env: 'SHARDCTL_ROUTER_LISTEN', ...withDefault('127.0.0.1:7000', parseListen)}),
    id: Flags.string({description: 'router id in etcd and in write versions (default: <host>-<pid>)', env: 'SHARDCTL_ROUTER_ID'}),
    w: Flags.integer({description: 'write quorum (default: a majority of the voters: 2 of 3, 1 of 1; a larger value than a shard has voters means all of them)', min: 1, env: 'SHARDCTL_ROUTER_W'}),
    r: Flags.integer({description: 'read quorum (default: a majority of the voters; a larger value than a shard has voters means all of them)', min: 1, env: 'SHARDCTL_ROUTER_R'}),
    'node-timeout': durationFlag({...timerBound('timeout of one request to one node'), min: 1, env: 'SHARDCTL_ROUTER_NODE_TIMEOUT', ...withDefault('2s', parseDuration)}),
    'request-timeout': durationFlag({description: 'end-to-end bound of one client request, retries included', min: 1, env: 'SHARDCTL_ROUTER_REQUEST_TIMEOUT', ...withDefault('5s', parseDuration)}),
    'drain-timeout': durationFlag({description: 'on SIGTERM, how long in-flight requests may take before connections are closed', env: 'SHARDCTL_ROUTER_DRAIN_TIMEOUT', ...withDefault('10s', parseDuration)}),
    'lease-ttl': durationFlag({...timerBound("TTL of the router's etcd lease (whole seconds; a bare number is seconds)"), min: 2000, env: 'SHARDCTL_ROUTER_LEASE_TTL', ...withDefault('10s', parseDuration)}),
    'report-interval': durationFlag({...timerBound('how often the router publishes its client figures (p99, request and error totals) in its etcd registration'), min: 500, env: 'SHARDCTL_ROUTER_REPORT_INTERVAL', ...withDefault('5s', parseDuration)}),
    'max-clock-offset': durationFlag({description: "the cluster's bound on clock offset between members: the router refuses writes (CLOCK_OFFSET) while its clock is off its peers by more", min: 1, env: 'SHARDCTL_MAX_CLOCK_OFFSET', ...withDefault('500ms', parseDuration)}),
    // With them the router serves HTTPS and dials nodes over mutual TLS (a `cert create-node` certificate).
    ...DATA_PLANE_TLS_FLAGS,
  }

  async run(): Promise<{id: string; address: string; signal: string; drained: boolean}> {
    const {flags} = await this.parse(RouterServe)
    const drainMs = flags['drain-timeout']
    const tls = loadTlsMaterial(tlsPathsOf(flags), 'certificate')
    setDefaultClientTls(tls)
    const ctx = await this.services(flags)
    // JSON lines with time, level and msg, like the storage nodes' logs.
    // The id it registers under, chosen here so every log line carries it (it logged "router": null without --id).
    const id = flags.id ?? defaultRouterId()
    const logger = jsonLog({router: id})
    const log = (line: string) => logger.info(line)
    // Listened for before start-up, as `node serve` does: a SIGTERM while the router loads the
    // map or registers must not kill it with routers/<id> left for its lease's TTL; it stops
    // once started. A second signal exits 1 at once.
    const signals = new StopSignals()
    // A log reader that goes away must not take the router down (its lines are lost instead).
    surviveLostLogReader()
    const router = await startRouter(ctx, {
      id,
      listen: formatListen(flags.listen),
      w: flags.w,
      r: flags.r,
      nodeTimeoutMs: flags['node-timeout'],
      requestTimeoutMs: flags['request-timeout'],
      leaseTtlSeconds: Math.round(flags['lease-ttl'] / 1000),
      maxClockOffsetMs: flags['max-clock-offset'],
      heartbeatMs: flags['report-interval'],
      log,
      tls,
    })
    // The ready line: the address it registered, its bound port with --listen HOST:0.
    announceReady({role: 'router', id: router.id, cluster: router.cluster, address: router.address}, this.jsonEnabled())
    const signal = await signals.signalled
    log(`${signal}: draining (up to ${drainMs} ms)`)
    const {drained, inflightAtDeadline} = await router.stop(drainMs)
    if (drained) log('drained; exiting')
    else logger.warn(`drain deadline passed with ${inflightAtDeadline} requests in flight; exiting`)
    // A signal in the exit linger from here on exits 0: the stop is done.
    signals.stopped()
    exitAfterStop()
    return {id: router.id, address: router.address, signal, drained}
  }
}
