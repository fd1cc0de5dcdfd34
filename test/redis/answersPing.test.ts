import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it, onTestFinished} from 'vitest'
import {freePort} from '../../src/localEtcd/freePort.js'
import {answersPing, redisServerArgs} from '../../src/redis/localRedisCluster.js'
import {trackPid, untrackPid} from '../support/processReaper.js'

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

  it('Given a redis-server that answers and is then frozen (SIGSTOP: the kernel still accepts connections, nothing answers), When a start waits for it, Then each attempt is bounded and the wait ends false at its deadline instead of hanging', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardctl-redis-frozen-'))
    let child: ReturnType<typeof spawn> | undefined
    // Cleanup runs even when the test times out (as it did before the bound): resume, kill, remove.
    onTestFinished(async () => {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child!.once('exit', () => r()))
        child.kill('SIGCONT')
        child.kill('SIGKILL')
        await exited
      }
      untrackPid(child?.pid)
      rmSync(dir, {recursive: true, force: true})
    })
    // A real server, found answering first (a port taken meanwhile: another port).
    let port = 0
    for (let attempt = 0; attempt < 5 && !child; attempt++) {
      port = await freePort()
      const c = spawn('redis-server', redisServerArgs(port, dir), {stdio: 'ignore'})
      trackPid(c.pid)
      if (await answersPing(port, c, 10_000)) child = c
      else {
        c.kill('SIGKILL')
        untrackPid(c.pid)
      }
    }
    if (!child) throw new Error('no redis-server answered')
    child.kill('SIGSTOP')
    // Before the bound an attempt awaited the frozen server's answer for ever (the test's own timeout failed it).
    expect(await answersPing(port, child, 1500)).toBe(false)
  }, 20_000)
})
