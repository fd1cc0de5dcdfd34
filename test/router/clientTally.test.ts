import {describe, expect, it} from 'vitest'
import {ClientTally} from '../../src/router/clientTally.js'

describe('ClientTally', () => {
  it('Given answers of every kind, When recorded, Then all count as requests and only 5xx as errors', () => {
    const t = new ClientTally()
    for (const status of [200, 204, 404, 413, 400, 503, 500, 504]) t.record(status)
    expect(t.totals()).toEqual({requests: 8, errors: 3})
  })
})
