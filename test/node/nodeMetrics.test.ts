import {describe, expect, it} from 'vitest'
import {NodeMetrics} from '../../src/node/nodeMetrics.js'

describe('NodeMetrics', () => {
  it('given background fdatasyncs and WAL restart waits, then /metrics has them by file and by outcome', async () => {
    const m = new NodeMetrics(() => [], {defaultMetrics: false})
    m.backgroundSynced('wal', 0.003)
    m.backgroundSynced('db', 0.02)
    m.backgroundSynced('db', 0.2)
    m.walWaited('restarted', 0.04)
    m.walWaited('gave-up', 1.0)
    const {body} = await m.render()
    const value = (re: RegExp) => Number(re.exec(body)?.[1] ?? NaN)
    expect(value(/^shardctl_node_background_sync_duration_seconds_count\{file="wal"\} (\d+)/m)).toBe(1)
    expect(value(/^shardctl_node_background_sync_duration_seconds_count\{file="db"\} (\d+)/m)).toBe(2)
    expect(value(/^shardctl_node_background_sync_duration_seconds_bucket\{le="0.025",file="db"\} (\d+)/m)).toBe(1)
    expect(value(/^shardctl_node_copy_wal_wait_duration_seconds_count\{outcome="restarted"\} (\d+)/m)).toBe(1)
    expect(value(/^shardctl_node_copy_wal_wait_duration_seconds_sum\{outcome="gave-up"\} ([\d.]+)/m)).toBe(1)
  })
})
