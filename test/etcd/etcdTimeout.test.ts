import {describe, expect, it} from 'vitest'
import {etcdClientOptions} from '../../src/etcd/etcdStore.js'
import {UserError} from '../../src/errors/errors.js'

const conn = {endpoints: ['http://127.0.0.1:2379'], cluster: 'default', source: 'default'}

describe('etcdClientOptions: SHARDCTL_ETCD_TIMEOUT_MS', () => {
  it('Given it unset or blank, Then every unary call and the dial get the 5 s default', () => {
    for (const env of [{}, {SHARDCTL_ETCD_TIMEOUT_MS: ''}, {SHARDCTL_ETCD_TIMEOUT_MS: '  '}]) expect(etcdClientOptions(conn, env).dialTimeout).toBe(5000)
  })

  it('Given whole milliseconds in range, Then they are the deadline', () => {
    expect(etcdClientOptions(conn, {SHARDCTL_ETCD_TIMEOUT_MS: '60000'}).dialTimeout).toBe(60_000)
    expect(etcdClientOptions(conn, {SHARDCTL_ETCD_TIMEOUT_MS: '100'}).dialTimeout).toBe(100)
    expect(etcdClientOptions(conn, {SHARDCTL_ETCD_TIMEOUT_MS: '2147483647'}).dialTimeout).toBe(2_147_483_647)
  })

  it.each(['5s', 'abc', '0', '99', '-1', '1e4', '0x10', '2147483648', '5000.5'])('Given %j, Then BAD_INPUT naming the variable and a valid example (it was a NaN or useless deadline, silently)', (value) => {
    let err: unknown
    try {
      etcdClientOptions(conn, {SHARDCTL_ETCD_TIMEOUT_MS: value})
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(UserError)
    expect(err).toMatchObject({code: 'BAD_INPUT', message: `SHARDCTL_ETCD_TIMEOUT_MS: "${value}" is not a whole number from 100 to 2147483647`, hint: expect.stringContaining('SHARDCTL_ETCD_TIMEOUT_MS=5000')})
  })
})
