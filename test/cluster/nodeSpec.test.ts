import {describe, expect, it} from 'vitest'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {isUserError} from '../../src/errors/errors.js'

describe('parseNodeSpecs', () => {
  it('reads id=host:port[@zone] lists', () => {
    expect(parseNodeSpecs('n1=127.0.0.1:7001@a, n2=localhost:7002')).toEqual([
      {id: 'n1', address: '127.0.0.1:7001', zone: 'a'},
      {id: 'n2', address: 'localhost:7002', zone: 'default'},
    ])
    expect(parseNodeSpecs('n3=[::1]:7003@z')[0]!.address).toBe('[::1]:7003')
  })

  it.each([
    ['n1', /is not a node spec/],
    ['n1=127.0.0.1', /address "127.0.0.1" is invalid/],
    ['n1=127.0.0.1:99999', /port must be 1-65535/],
    ['-x=127.0.0.1:1', /node id must be/],
    ['n1=127.0.0.1:1@bad zone', /zone "bad zone"/],
    ['n1=127.0.0.1:1,n1=127.0.0.1:2', /lists node "n1" twice/],
    ['n1=127.0.0.1:1,n2=127.0.0.1:1', /lists address 127.0.0.1:1 twice/],
  ])('refuses %s with a BAD_INPUT naming the problem', (input, message) => {
    let caught: unknown
    try {
      parseNodeSpecs(input)
    } catch (err) {
      caught = err
    }
    expect(isUserError(caught, 'BAD_INPUT')).toBe(true)
    expect((caught as Error).message).toMatch(message)
  })
})
