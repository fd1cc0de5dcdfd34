import ora, {type Ora} from 'ora'
import {describeCopyProgress} from '../executor/copyProgressText.js'
import {type ExecutorEvent} from '../executor/executorEnv.js'
import {describeThrottleStep, isRateChange} from '../executor/throttleStepText.js'
import {isTerminal, MOVE_PHASES, type MovePhase} from '../model/move.js'

const isTerminalName = (phase: string): boolean => (MOVE_PHASES as readonly string[]).includes(phase) && isTerminal(phase as MovePhase)

/** ProgressSink renders executor events: an ora spinner on a TTY, timestamped lines otherwise, or JSON lines. */
export interface ProgressSink {
  emit(ev: ExecutorEvent): void
  stop(): void
}

/** describeEvent renders one event as a line of text. */
export function describeEvent(ev: ExecutorEvent): string {
  switch (ev.type) {
    case 'phase':
      return `move ${ev.move} (shard ${ev.shard} ${ev.from} → ${ev.to}): ${ev.phase}${ev.reason ? ` — ${ev.reason}` : ''}`
    case 'progress':
      return `move ${ev.move}: ${describeCopyProgress(ev, null)}`
    case 'retry':
      return `move ${ev.move}: retrying ${ev.what}: ${ev.error}`
    case 'info':
      return ev.message
    case 'throttle':
      return describeThrottleStep(ev)
  }
}

/** ProgressMode is how executor progress is shown: JSON lines, an ora spinner on stderr, or plain lines. */
export type ProgressMode = 'json' | 'spinner' | 'lines'

/**
 * progressMode picks the rendering for the streams at hand. The spinner draws on stderr, so
 * it is chosen by whether stderr (not stdout) is a terminal: `apply > out.txt` on a
 * terminal still shows it, `apply 2> err.log` gets plain lines instead of escape codes.
 */
export function progressMode(json: boolean, tty: {stderr: boolean}): ProgressMode {
  if (json) return 'json'
  return tty.stderr ? 'spinner' : 'lines'
}

/**
 * makeProgressSink renders in `mode`: `json` writes one JSON event per line; `spinner`
 * draws an ora spinner on `spinnerStream` (stderr) showing the latest state of every
 * running move; `lines` (CI) writes plain timestamped lines for phase changes, retries and
 * info, and progress at most every 2 s. `write` receives the JSON and plain lines.
 */
export function makeProgressSink(mode: ProgressMode, write: (line: string) => void, spinnerStream: NodeJS.WriteStream = process.stderr): ProgressSink {
  if (mode === 'json') return {emit: (ev) => write(JSON.stringify(ev)), stop() {}}
  if (mode === 'lines') {
    const lastProgress = new Map<string, number>()
    return {
      emit(ev) {
        if (ev.type === 'progress') {
          const t = Date.parse(ev.at)
          if (t - (lastProgress.get(ev.move) ?? 0) < 2000) return
          lastProgress.set(ev.move, t)
        }
        if (ev.type === 'throttle' && !isRateChange(ev)) return
        write(`${ev.at} ${describeEvent(ev)}`)
      },
      stop() {},
    }
  }
  // Started on the first event, not here: the confirmation question comes before any event,
  // and a spinner redrawing over it would hide it.
  let started: Ora | undefined
  const state = new Map<string, string>()
  return {
    emit(ev) {
      const spinner = (started ??= ora({text: 'starting', discardStdin: false, stream: spinnerStream, isEnabled: true}).start())
      if (ev.type === 'phase' && isTerminalName(ev.phase)) {
        state.delete(ev.move)
        const line = describeEvent(ev)
        if (ev.phase === 'done') spinner.succeed(line)
        else spinner.warn(line)
        spinner.start()
      } else if (ev.type === 'phase' || ev.type === 'progress') {
        state.set(ev.move, describeEvent(ev))
      } else if (ev.type === 'throttle') {
        // Every step (about one a second) updates one spinner line instead of printing one.
        state.set('', describeEvent(ev))
      } else {
        spinner.info(describeEvent(ev))
        spinner.start()
      }
      spinner.text = [...state.values()].join('\n  ') || 'waiting'
    },
    stop() {
      started?.stop()
    },
  }
}
