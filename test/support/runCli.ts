import {spawn} from 'node:child_process'
import {resolve} from 'node:path'

/** CLI_BIN is the built entry point the e2e tests run (npm test builds dist/ first). */
export const CLI_BIN = resolve(import.meta.dirname, '../../bin/run.js')

/** CliResult is what one run of the real binary produced. */
export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/**
 * runCli runs `shardctl args...` as a real process in `cwd` with `env` added to a clean
 * environment (no ETCDCTL_* leaking in from the caller), killed after `timeoutMs`.
 */
export function runCli(args: string[], opts: {cwd: string; env?: Record<string, string>; timeoutMs?: number}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const env: NodeJS.ProcessEnv = {PATH: process.env.PATH, HOME: opts.cwd, ...opts.env}
    const child = spawn(process.execPath, [CLI_BIN, ...args], {cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolvePromise({code: code ?? (signal ? 128 : 1), stdout, stderr})
    })
  })
}
