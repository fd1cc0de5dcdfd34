import {describe, expect, it} from 'vitest'
import {requestTargetUrl} from '../../src/transport/requestTarget.js'

describe('requestTargetUrl', () => {
  it('given a path with a query, then it is the URL on this server', () => {
    const url = requestTargetUrl('/v1/shards/3/apply?epoch=2')
    expect(url?.pathname).toBe('/v1/shards/3/apply')
    expect(url?.searchParams.get('epoch')).toBe('2')
  })

  it('given no target, then it is the root', () => {
    expect(requestTargetUrl(undefined)?.pathname).toBe('/')
  })

  it('given targets node:http passes on that are no URL, then it is undefined instead of throwing', () => {
    for (const target of ['//', 'http://[x', 'http://a:99999/', 'http://%zz/']) expect(requestTargetUrl(target), target).toBeUndefined()
  })
})
