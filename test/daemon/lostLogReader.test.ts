import {EventEmitter} from 'node:events'
import {describe, expect, it} from 'vitest'
import {surviveLostLogReader} from '../../src/daemon/lostLogReader.js'

describe('surviveLostLogReader', () => {
  it('Given a log stream whose reader went away, When it reports EPIPE, Then nothing is thrown (Node throws an unheard error event)', () => {
    const out = new EventEmitter()
    expect(() => out.emit('error', Object.assign(new Error('write EPIPE'), {code: 'EPIPE'}))).toThrow('EPIPE')
    surviveLostLogReader([out])
    expect(() => out.emit('error', Object.assign(new Error('write EPIPE'), {code: 'EPIPE'}))).not.toThrow()
    // Every later write fails again (Node un-destroys stdio streams): each is heard.
    expect(() => out.emit('error', Object.assign(new Error('write EPIPE'), {code: 'EPIPE'}))).not.toThrow()
  })

  it('Given it installed twice, Then the stream carries one listener', () => {
    const out = new EventEmitter()
    surviveLostLogReader([out])
    surviveLostLogReader([out])
    expect(out.listenerCount('error')).toBe(1)
  })
})
