import {describe, expect, it} from 'vitest'
import {tuningEnvProblem} from '../../src/node/tuningEnv.js'

describe('tuningEnvProblem: the tuning variables node serve refuses', () => {
  it('takes every variable unset, blank, or at the ends of its range', () => {
    expect(tuningEnvProblem({})).toBeUndefined()
    expect(tuningEnvProblem({SHARDCTL_COPY_PAGE_SLABS: ' ', SHARDCTL_COPY_THREAD_NICE: '', SHARDCTL_SQLITE_PAGE_SIZE: ''})).toBeUndefined()
    expect(tuningEnvProblem({SHARDCTL_COPY_FRAME_SLABS: '0', SHARDCTL_COPY_PAGE_SLABS: '64', SHARDCTL_COPY_THREAD_NICE: '39', SHARDCTL_COPY_RECEIVE_NICE: '0', SHARDCTL_SQLITE_PAGE_SIZE: '65536'})).toBeUndefined()
    expect(tuningEnvProblem({SHARDCTL_SQLITE_PAGE_SIZE: '512'})).toBeUndefined()
    expect(tuningEnvProblem({SHARDCTL_COPY_RECEIVE_THREAD: '0'})).toBeUndefined()
    expect(tuningEnvProblem({SHARDCTL_COPY_RECEIVE_THREAD: '1'})).toBeUndefined()
  })

  it.each([
    ['SHARDCTL_COPY_PAGE_SLABS', '65', 'is not a whole number from 0 to 64'],
    ['SHARDCTL_COPY_PAGE_SLABS', 'x', 'is not a whole number from 0 to 64'],
    ['SHARDCTL_COPY_THREAD_NICE', '-1', 'is not a whole number from 0 to 39'],
    ['SHARDCTL_COPY_THREAD_NICE', '2.5', 'is not a whole number from 0 to 39'],
    ['SHARDCTL_COPY_RECEIVE_NICE', '40', 'is not a whole number from 0 to 39'],
    ['SHARDCTL_COPY_RECEIVE_NICE', '1e1', 'is not a whole number from 0 to 39'],
    ['SHARDCTL_COPY_RECEIVE_THREAD', 'off', 'is not a whole number from 0 to 1'],
    ['SHARDCTL_COPY_RECEIVE_THREAD', 'false', 'is not a whole number from 0 to 1'],
    ['SHARDCTL_COPY_RECEIVE_THREAD', '2', 'is not a whole number from 0 to 1'],
    ['SHARDCTL_SQLITE_PAGE_SIZE', '16000', 'is not a power of two from 512 to 65536'],
    ['SHARDCTL_SQLITE_PAGE_SIZE', '131072', 'is not a power of two from 512 to 65536'],
    ['SHARDCTL_SQLITE_PAGE_SIZE', 'big', 'is not a power of two from 512 to 65536'],
  ])('refuses %s=%s in one line naming the variable, the value and what it takes, with a fix', (name, value, what) => {
    const p = tuningEnvProblem({[name]: value})
    expect(p?.message).toBe(`${name}: "${value}" ${what}`)
    expect(p?.fix).toMatch(/^unset it for the default/)
  })

  it('still refuses a bad SHARDCTL_COPY_FRAME_SLABS first, with the fix node serve gave it', () => {
    expect(tuningEnvProblem({SHARDCTL_COPY_FRAME_SLABS: '100', SHARDCTL_SQLITE_PAGE_SIZE: 'big'})).toEqual({message: 'SHARDCTL_COPY_FRAME_SLABS: "100" is not a whole number from 0 to 64', fix: 'unset it for the default 10, or set 0 for none'})
  })
})
