import {spawn} from 'node:child_process'
import {createServer} from 'node:net'
import {describe, expect, it} from 'vitest'
import {answersPing} from '../../src/redis/localRedisCluster.js'

describe.runIf(process.platform === 'linux')('answersPing (a local redis-server child starting)', () => {
  it('Given another server answering PONG on the child\'s port (the child lost the port to it), When the start waits for the child, Then that answer is not taken for the child\'s', async () => {
    // A squatter speaking just enough RESP: every command (an array frame) is answered +PONG.
    const squatter = createServer((socket) => socket.on('data', (d) => socket.write('+PONG\r\n'.repeat(String(d).match(/\*\d+\r\n\$/g)?.length ?? 1))))
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r))
    const port = (squatter.address() as {port: number}).port
    // The child stands for a redis-server that has not bound the port (it will exit on EADDRINUSE).
    const child = spawn('sleep', ['5'], {stdio: 'ignore'})
    try {
      expect(await answersPing(port, child, 1000)).toBe(false)
    } finally {
      child.kill('SIGKILL')
      squatter.close()
    }
  })
})
