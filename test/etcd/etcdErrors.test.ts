import * as etcd from 'etcd3'
import {describe, expect, it} from 'vitest'
import {toEtcdUserError} from '../../src/etcd/etcdErrors.js'
import {UserError} from '../../src/errors/errors.js'

const target = {endpoints: ['http://127.0.0.1:44427'], source: '--endpoints'}

/** brokenCircuit is what etcd3's connection pool throws (cockatiel's BrokenCircuitError) once repeated connection failures opened its circuit breaker. */
function brokenCircuit(): Error {
  return Object.assign(new Error('Execution prevented because the circuit breaker is open'), {isBrokenCircuitError: true})
}

describe('toEtcdUserError', () => {
  // `--user root:pw` (or an ETCDCTL_USER a CI secret sets) against an etcd without auth was
  // "unexpected failure: … — this is a bug; rerun with DEBUG=1", exit 1.
  it('Given credentials sent to an etcd with authentication disabled (FAILED_PRECONDITION), Then it is ETCD_AUTH (exit 4) saying to drop them, not a bug', () => {
    const err = toEtcdUserError(new etcd.GRPCFailedPreconditionError('9 FAILED_PRECONDITION: etcdserver: authentication is not enabled'), target)
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).code).toBe('ETCD_AUTH')
    expect((err as UserError).message).toBe('etcd at http://127.0.0.1:44427 (from --endpoints) has authentication disabled, but a user was given: etcdserver: authentication is not enabled')
    expect((err as UserError).hint).toBe('drop --user/--password (and ETCDCTL_USER / ETCDCTL_PASSWORD, or user/password in the config file), or enable authentication on that etcd')
  })

  it('Given a refused connection, Then it is ETCD_UNREACHABLE naming the endpoint and where it came from', () => {
    const err = toEtcdUserError(new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:44427'), target)
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).code).toBe('ETCD_UNREACHABLE')
    expect((err as UserError).message).toBe('etcd at http://127.0.0.1:44427 (from --endpoints) is unreachable: connect ECONNREFUSED 127.0.0.1:44427')
  })

  it('Given a call that waited long (an endpoint that accepts and never answers: etcd3 retried the 5 s deadline), Then the message says the whole wait, not only the last try\'s deadline; a quick refusal adds nothing', () => {
    const slow = toEtcdUserError(new etcd.GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded after 5.005s'), target, 15_012)
    expect((slow as UserError).code).toBe('ETCD_UNREACHABLE')
    expect((slow as UserError).message).toBe('etcd at http://127.0.0.1:44427 (from --endpoints) is unreachable (no answer in 15.0 s, retries included): Deadline exceeded after 5.005s')
    const quick = toEtcdUserError(new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:44427'), target, 3)
    expect((quick as UserError).message).toBe('etcd at http://127.0.0.1:44427 (from --endpoints) is unreachable: connect ECONNREFUSED 127.0.0.1:44427')
  })

  it('Given the etcd3 client gave up after repeated failures (circuit breaker open, as `user list` and `kv get` met it with etcd down), Then it is ETCD_UNREACHABLE (exit 3), not an unexpected failure', () => {
    const err = toEtcdUserError(brokenCircuit(), target)
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).code).toBe('ETCD_UNREACHABLE')
    expect((err as UserError).message).toBe('etcd at http://127.0.0.1:44427 (from --endpoints) is unreachable: the client stopped trying after repeated connection failures')
  })

  it('Given --endpoints names an HTTP/2 server that is not etcd (grpc-js: "Received HTTP status code 404"), Then it is ETCD_UNREACHABLE (exit 3) saying it is not etcd, not an unexpected failure', () => {
    const err = toEtcdUserError(new etcd.GRPCNotImplementedError('12 UNIMPLEMENTED: Received HTTP status code 404'), target)
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).code).toBe('ETCD_UNREACHABLE')
    expect((err as UserError).message).toBe('etcd at http://127.0.0.1:44427 (from --endpoints) answered, but not as etcd: Received HTTP status code 404')
    expect((err as UserError).hint).toMatch(/point --endpoints \/ ETCDCTL_ENDPOINTS at an etcd client URL/)
  })

  it('Given another gRPC service on the endpoint (no etcd KV methods: UNIMPLEMENTED), Then it is ETCD_UNREACHABLE as well', () => {
    const err = toEtcdUserError(new etcd.GRPCNotImplementedError('12 UNIMPLEMENTED: unknown service etcdserverpb.KV'), target)
    expect((err as UserError).code).toBe('ETCD_UNREACHABLE')
    expect((err as UserError).message).toBe('etcd at http://127.0.0.1:44427 (from --endpoints) answered, but not as etcd: unknown service etcdserverpb.KV')
  })
})
