import {Histogram, Registry} from 'prom-client'
import {describe, expect, it} from 'vitest'
import {type Scrape, stageP99s, walWaitsDuring} from '../../bench/moveScrapeFigures.js'

const buckets = [0.005, 0.05, 0.25, 1]

/** processMetrics is one process's real prom-client histograms (the names the move bench reads), to observe into and render. */
function processMetrics() {
  const registry = new Registry()
  const h = (name: string, labelNames: string[]) => new Histogram({name, help: 'h', labelNames, buckets, registers: [registry]})
  return {
    routerRequest: h('shardctl_router_request_duration_seconds', ['method']),
    upstream: h('shardctl_router_upstream_request_duration_seconds', ['node', 'op']),
    nodeRequest: h('shardctl_node_request_duration_seconds', ['op']),
    commit: h('shardctl_node_commit_duration_seconds', ['kind']),
    walWait: h('shardctl_node_copy_wal_wait_duration_seconds', ['outcome']),
    text: () => registry.metrics(),
  }
}

/** observe records `n` observations of `seconds`. */
function observe(h: Histogram, labels: Record<string, string>, n: number, seconds: number): void {
  for (let i = 0; i < n; i++) h.observe(labels, seconds)
}

describe('the move bench figures between two scrapes', () => {
  it('given stages observed before and during a copy, when formatted, then each stage shows its p99 bound per window in ms, "-" without requests and ">N" past the largest bucket', async () => {
    const router = processMetrics()
    const src = processMetrics()
    const dst = processMetrics()
    const scrape = async (): Promise<Scrape> => ({router: await router.text(), src: await src.text(), dst: await dst.text()})
    // Before the first scrape: slow requests that neither window may show.
    observe(router.routerRequest, {method: 'PUT'}, 50, 2)
    const beforeFrom = await scrape()
    observe(router.routerRequest, {method: 'PUT'}, 100, 0.004)
    observe(router.routerRequest, {method: 'GET'}, 100, 0.004)
    observe(router.upstream, {node: 'n1', op: 'apply'}, 100, 0.004)
    observe(src.nodeRequest, {op: 'apply'}, 100, 0.004)
    observe(src.commit, {kind: 'group'}, 100, 0.004)
    const beforeTo = await scrape()
    const during0 = beforeTo
    observe(router.routerRequest, {method: 'PUT'}, 98, 0.004)
    observe(router.routerRequest, {method: 'PUT'}, 2, 0.2) // 2 % slow: the p99 is theirs
    observe(router.routerRequest, {method: 'GET'}, 100, 0.03)
    observe(router.upstream, {node: 'n2', op: 'apply'}, 10, 3) // past the largest bucket
    observe(dst.nodeRequest, {op: 'apply'}, 10, 0.04)
    observe(dst.commit, {kind: 'copy'}, 10, 0.6)
    const during1 = await scrape()
    expect(stageP99s('n1', 'n2', [beforeFrom, beforeTo], [during0, during1])).toBe(
      'router PUT 5→250; router GET 5→50; router→n1 apply 5→-; router→n2 apply -→>1000; router→n1 get -→-; ' +
        'n1 apply 5→-; n2 apply -→50; n1 get -→-; n1 commit group 5→-; n2 commit group -→-; n2 commit copy -→1000 (ms)',
    )
  })

  it('given a scrape that failed (empty text), when formatted, then a stage with no series there shows "-" and one with a series counts everything in the later scrape', async () => {
    const router = processMetrics()
    observe(router.routerRequest, {method: 'GET'}, 10, 0.04)
    const to: Scrape = {router: await router.text()}
    expect(stageP99s('a', 'b', [{}, {}], [{router: ''}, to])).toBe(
      'router PUT -→-; router GET -→50; router→a apply -→-; router→b apply -→-; router→a get -→-; a apply -→-; b apply -→-; a get -→-; a commit group -→-; b commit group -→-; b commit copy -→- (ms)',
    )
  })

  it('given WAL waits on the destination, when formatted, then each outcome shows its count between the scrapes, the time waited and its longest wait bound', async () => {
    const dst = processMetrics()
    observe(dst.walWait, {outcome: 'restarted'}, 3, 0.9) // before the window: not counted
    const from: Scrape = {dst: await dst.text()}
    observe(dst.walWait, {outcome: 'restarted'}, 7, 0.2)
    observe(dst.walWait, {outcome: 'gave-up'}, 1, 1.5)
    const to: Scrape = {dst: await dst.text()}
    expect(walWaitsDuring([from, to])).toBe('restarted 7 (1.40 s in all, longest <= 250 ms), gave-up 1 (1.50 s in all, longest > 1000 ms)')
    expect(walWaitsDuring([to, to])).toBe('restarted 0, gave-up 0')
    expect(walWaitsDuring([{}, {}])).toBe('restarted 0, gave-up 0')
  })
})
