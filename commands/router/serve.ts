import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {UserError} from '../../src/errors/errors.js'
import {parseDuration} from '../../src/model/units.js'
import {startRouter} from '../../src/router/routerService.js'
import {terminationSignal} from '../../src/router/terminationSignal.js'


export default class RouterServe extends EtcdCommand {
  static override summary = 'Run a router: the quorum read/write proxy clients talk to.'
  static override description = `Serves PUT/GET/DELETE /kv/{key}, /healthz and /metrics over HTTP/1.1 keep-alive. Follows the shard map in etcd, writes to every write replica and acknowledges at w (joint quorum during moves), reads r voters and read-repairs stale ones, and retries transparently after a node's stale-epoch refusal. Registers under the leased routers/<id> with the map revision and epochs it has applied. SIGTERM stops accepting, finishes in-flight requests (bounded by --drain-timeout) and exits.`
  static override examples = ['<%= config.bin %> router serve --listen 127.0.0.1:7000', '<%= config.bin %> router serve --listen 127.0.0.1:0 --id r1 --w 2 --r 2']
  static override flags = {
    listen: Flags.string({description: 'host:port to serve on (port 0 picks a free one)', default: '127.0.0.1:7000'}),
    id: Flags.string({description: 'router id in etcd and in write versions (default: <host>-<pid>)'}),
    w: Flags.integer({description: 'write quorum (default: a majority of the voters: 2 of 3, 1 of 1)', min: 1}),
    r: Flags.integer({description: 'read quorum (default: a majority of the voters)', min: 1}),
    'node-timeout': Flags.string({description: 'timeout of one request to one node', default: '2s'}),
    'request-timeout': Flags.string({description: 'end-to-end bound of one client request, retries included', default: '5s'}),
    'drain-timeout': Flags.string({description: 'on SIGTERM, how long in-flight requests may take before connections are closed', default: '10s'}),
    'lease-ttl': Flags.integer({description: 'TTL in seconds of the router\'s etcd lease', default: 10, min: 2}),
    'max-clock-offset': Flags.string({description: 'the cluster\'s bound on clock offset between members: the router refuses writes (CLOCK_OFFSET) while its clock is off its peers by more', default: '500ms'}),
  }

  async run(): Promise<{id: string; address: string; signal: string; drained: boolean}> {
    const {flags} = await this.parse(RouterServe)
    const drainMs = duration(flags['drain-timeout'], '--drain-timeout')
    const ctx = await this.services(flags)
    const log = (line: string) => process.stderr.write(`${new Date().toISOString()} router: ${line}\n`)
    const router = await startRouter(ctx, {
      id: flags.id,
      listen: flags.listen,
      w: flags.w,
      r: flags.r,
      nodeTimeoutMs: duration(flags['node-timeout'], '--node-timeout'),
      requestTimeoutMs: duration(flags['request-timeout'], '--request-timeout'),
      leaseTtlSeconds: flags['lease-ttl'],
      maxClockOffsetMs: duration(flags['max-clock-offset'], '--max-clock-offset'),
      log,
    })
    this.log(`router ${router.id} serving cluster ${router.cluster} on ${router.address}`)
    const signal = await terminationSignal()
    log(`${signal}: draining (up to ${drainMs} ms)`)
    const {drained, inflightAtDeadline} = await router.stop(drainMs)
    log(drained ? 'drained; exiting' : `drain deadline passed with ${inflightAtDeadline} requests in flight; exiting`)
    return {id: router.id, address: router.address, signal, drained}
  }
}

function duration(raw: string, flag: string): number {
  try {
    return parseDuration(raw)
  } catch (err) {
    throw new UserError('BAD_INPUT', `${flag}: ${(err as Error).message}`)
  }
}
