import {createInterface} from 'node:readline/promises'
import {UserError} from '../errors/errors.js'

/** TerminalState says which standard streams are terminals (as `isTTY` reports them). */
export interface TerminalState {
  stdin: boolean
  stderr: boolean
}

/** currentTerminals reads {@link TerminalState} from this process's streams. */
export function currentTerminals(): TerminalState {
  return {stdin: process.stdin.isTTY === true, stderr: process.stderr.isTTY === true}
}

/**
 * needsQuestion decides whether a command that changes the cluster asks before it does:
 * false with --yes; true when the question can be both seen (stderr is a terminal) and
 * answered (stdin is a terminal). Otherwise throws UserError(BAD_INPUT, exit 2) saying to
 * pass --yes, so a script or CI job never waits on a question nobody sees. Questions go
 * to stderr, never stdout, so `--json > out.json` stays parseable.
 */
export function needsQuestion(yes: boolean, tty: TerminalState, what: string): boolean {
  if (yes) return false
  if (tty.stdin && tty.stderr) return true
  const why = tty.stdin ? 'stderr is not a terminal, so the question could not be seen' : 'stdin is not a terminal, so the question could not be answered'
  throw new UserError('BAD_INPUT', `refusing to ${what} without confirmation: ${why}`, 'pass --yes to run non-interactively (CI)')
}

/** QuestionStreams are where {@link askYesNo} reads the answer and writes the question. */
export interface QuestionStreams {
  input: NodeJS.ReadableStream
  output: NodeJS.WritableStream
}

/**
 * askYesNo writes `question [y/N]` to `output` (stderr by default) and resolves true only
 * for y/yes. An empty answer or end of input is no. Ctrl-C at the question (which a
 * terminal in raw mode delivers to readline, not as a signal) rejects with
 * UserError(INTERRUPTED) saying nothing was recorded.
 */
export async function askYesNo(question: string, streams: QuestionStreams = {input: process.stdin, output: process.stderr}): Promise<boolean> {
  const rl = createInterface({input: streams.input, output: streams.output, terminal: (streams.input as {isTTY?: boolean}).isTTY === true})
  const abort = new AbortController()
  let interrupted = false
  rl.on('SIGINT', () => {
    interrupted = true
    abort.abort()
  })
  // End of input answers "no": the question cannot be answered any more.
  rl.on('close', () => abort.abort())
  try {
    const answer = await rl.question(`${question} [y/N] `, {signal: abort.signal})
    return /^y(es)?$/i.test(answer.trim())
  } catch (err) {
    if (interrupted) throw new UserError('INTERRUPTED', 'interrupted at the confirmation question: nothing was recorded or changed', 'run the command again when ready')
    if (abort.signal.aborted) return false
    throw err
  } finally {
    rl.close()
  }
}
