import * as etcd from 'etcd3'
import {decodeRangeResponse, encodeRangeRequest, type RangeAnswer, type RangeQuery} from './rangeWire.js'

/**
 * The parts of etcd3's connection pool a raw call goes through (etcd3 1.1; private there, so
 * checked at run time): its retry policy, its host selection with circuit breakers and auth
 * metadata, and its authenticator. The pool's own `exec` does exactly this around each call.
 */
interface PoolInternals {
  globalPolicy: {execute<T>(fn: () => Promise<T>): Promise<T>}
  withConnection<T>(service: string, fn: (conn: {client: UnaryCaller; metadata: Metadata}) => Promise<T>): Promise<T>
  authenticator: {invalidateMetadata(): void}
}

/** Metadata is grpc-js's call metadata, passed through untouched (grpc-js is etcd3's dependency, not ours). */
type Metadata = unknown

/** UnaryCaller is the grpc-js client method a raw call uses (Client.makeUnaryRequest). */
interface UnaryCaller {
  makeUnaryRequest(method: string, serialize: (b: Buffer) => Buffer, deserialize: (b: Buffer) => Buffer, arg: Buffer, metadata: Metadata, options: {deadline: number}, callback: (err: Error | null, value?: Buffer) => void): unknown
}

function poolOf(client: etcd.Etcd3): PoolInternals | undefined {
  const pool = (client as unknown as {pool?: Partial<PoolInternals>}).pool
  return pool && typeof pool.withConnection === 'function' && typeof pool.globalPolicy?.execute === 'function' && typeof pool.authenticator?.invalidateMetadata === 'function' ? (pool as PoolInternals) : undefined
}

/** rawRangeAvailable tells whether {@link rawRange} can run on this etcd3 client (false: use etcd3's range call). */
export function rawRangeAvailable(client: etcd.Etcd3): boolean {
  return poolOf(client) !== undefined
}

/**
 * rawRange runs etcd's KV Range on etcd3's connections (same hosts, TLS, auth, retries and
 * error classes as etcd3's own calls) but encodes the request and decodes the response
 * itself (see rangeWire.ts), skipping etcd3's protobufjs objects. Rejects with etcd3's error
 * classes (castGrpcError), or {@link WireError} on a malformed response; `deadlineMs` bounds
 * each attempt. Only call it when {@link rawRangeAvailable}.
 */
export async function rawRange(client: etcd.Etcd3, q: RangeQuery, deadlineMs: number): Promise<RangeAnswer> {
  const pool = poolOf(client)
  if (!pool) throw new Error('etcd3 connection pool internals not found (rawRangeAvailable was not checked)')
  const request = encodeRangeRequest(q)
  const attempt = (): Promise<RangeAnswer> =>
    pool.globalPolicy.execute(() =>
      pool.withConnection('KV', ({client: kv, metadata}) =>
        new Promise<RangeAnswer>((resolve, reject) => {
          kv.makeUnaryRequest('/etcdserverpb.KV/Range', (b) => b, (b) => b, request, metadata, {deadline: Date.now() + deadlineMs}, (err, value) => {
            if (err) return reject(etcd.castGrpcError(err))
            try {
              resolve(decodeRangeResponse(value ?? Buffer.alloc(0)))
            } catch (e) {
              reject(e)
            }
          })
        }),
      ),
    )
  try {
    return await attempt()
  } catch (err) {
    // As etcd3's exec: an expired auth token is renewed once.
    if (!(err instanceof etcd.EtcdInvalidAuthTokenError)) throw err
    pool.authenticator.invalidateMetadata()
    return attempt()
  }
}
