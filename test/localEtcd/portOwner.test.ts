import {spawn} from 'node:child_process'
import {createServer, type Server} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {listeningInodes, portHeldBy} from '../../src/localEtcd/portOwner.js'

const servers: Server[] = []
afterEach(() => servers.splice(0).forEach((s) => s.close()))

async function listener(): Promise<number> {
  const s = createServer()
  servers.push(s)
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  return (s.address() as {port: number}).port
}

describe('listeningInodes', () => {
  it('Given a /proc/net/tcp table, When asked for a port, Then only the inodes of sockets listening on it come back', () => {
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0 100 0 0 10 0',
      '   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0 20 4 30 10 -1',
      '   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 333 1 0 100 0 0 10 0',
    ].join('\n')
    expect(listeningInodes(table, 8080)).toEqual(['111'])
    expect(listeningInodes(table, 8081)).toEqual(['333'])
    expect(listeningInodes(table, 9)).toEqual([])
  })
})

describe.runIf(process.platform === 'linux')('portHeldBy (Linux /proc)', () => {
  it('Given a port this process listens on, Then this process holds it and another live process (or a gone one) does not', async () => {
    const port = await listener()
    expect(portHeldBy(process.pid, port)).toBe(true)
    const other = spawn('sleep', ['5'], {stdio: 'ignore'})
    try {
      expect(portHeldBy(other.pid!, port)).toBe(false)
    } finally {
      other.kill('SIGKILL')
      await new Promise((r) => other.once('exit', r))
    }
    expect(portHeldBy(other.pid!, port)).toBe(false)
  })
})
