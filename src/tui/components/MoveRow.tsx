import {Text} from 'ink'
import {formatBytes} from '../../model/units.js'
import {type MoveRowView} from '../topView.js'
import {Bar} from './Bar.js'

/** MoveRowProps: one move and the width of the row. */
export interface MoveRowProps {
  move: MoveRowView
  width: number
}

/** PHASE_COLORS: running phases cyan, success green, abort/skip yellow, failure red. */
function phaseColor(m: MoveRowView): string {
  if (m.phase === 'done') return 'green'
  if (m.phase === 'failed') return 'red'
  if (m.terminal || m.phase === 'aborting') return 'yellow'
  return 'cyan'
}

/** formatEta renders seconds as `42s`, `3m05s` or `1h02m`. */
export function formatEta(s: number | null): string {
  if (s === null) return ''
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** warningNote is what a row adds for a move's warnings (MoveRowView.warning), in `moves list`'s words; null for none. */
function warningNote(m: MoveRowView): {text: string; color: string} | null {
  if (m.warning === 'data-loss') return {text: 'DATA MAY BE LOST (moves show)', color: 'red'}
  if (m.warning === 'warned') return {text: 'warned (moves show)', color: 'yellow'}
  return null
}

/**
 * MoveRow is one move: a selection marker, shard, source → destination, phase, then for a
 * running move a progress bar of bytes copied with percent, rate and ETA, and for a
 * finished one its outcome and reason; then a move's warnings, if any (warningNote).
 */
export function MoveRow({move: m, width}: MoveRowProps) {
  const route = `${m.from} → ${m.to}`.padEnd(14)
  const head = `${m.selected ? '▶' : ' '} ${String(m.shard).padStart(4)}  `
  const phase = m.phase.padEnd(9)
  const used = head.length + route.length + 1 + phase.length + 1
  const warned = warningNote(m)
  if (m.terminal) {
    const outcome = m.phase === 'done' ? `✓ ${formatBytes(m.bytes)} copied` : `✗ ${m.reason ?? 'no reason recorded'}`
    return (
      <Text wrap="truncate-end" inverse={m.selected}>
        {head}
        {route} <Text color={phaseColor(m)}>{phase}</Text> <Text color={phaseColor(m)}>{outcome}</Text>
        {warned ? <Text color={warned.color}>{` · ${warned.text}`}</Text> : null}
      </Text>
    )
  }
  const pct = m.fraction === null ? '   ?' : `${String(Math.round(m.fraction * 100)).padStart(3)}%`
  const rate = m.dataRateBytesPerSec > 0 ? `${formatBytes(Math.round(m.dataRateBytesPerSec))}/s` : ''
  const eta = m.etaSeconds !== null ? `ETA ${formatEta(m.etaSeconds)}` : ''
  const tail = `${pct} ${rate.padStart(11)} ${eta.padEnd(10)}`
  // A warning's note keeps its room: the bar shrinks rather than the note being cut.
  const barWidth = Math.max(0, Math.min(30, width - used - tail.length - 2 - (warned ? warned.text.length + 1 : 0)))
  const note = m.cancelRequested ? ' cancel requested' : m.stalled ? ' STALLED' : m.reason ? ` ${m.reason}` : ''
  return (
    <Text wrap="truncate-end" inverse={m.selected}>
      {head}
      {route} <Text color={phaseColor(m)}>{phase}</Text> <Bar value={m.fraction ?? 0} scale={1} width={barWidth} color="cyan" /> {tail}
      <Text color="yellow">{note}</Text>
      {warned ? <Text color={warned.color}>{` ${warned.text}`}</Text> : null}
    </Text>
  )
}
