import {type MoveCounts} from './chaosEnv.js'

/** ScenarioResult is one row of the chaos table. */
export interface ScenarioResult {
  scenario: string
  operations: number
  acked: number
  /** unknown: writes whose outcome the client could not know (connection lost, 5xx). */
  unknown: number
  lost: number
  stale: number
  phantom: number
  moves: MoveCounts
  converged: boolean
  seconds: number
  notes: string[]
}

/** renderTable renders the results as a Markdown table followed by each scenario's notes. */
export function renderTable(rows: readonly ScenarioResult[]): string {
  const head = '| scenario | operations | acked writes | unknown writes | lost writes | stale reads | phantom reads | moves completed / retried / aborted (total) | converged | time |'
  const sep = '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |'
  const lines = rows.map(
    (r) =>
      `| ${r.scenario} | ${r.operations} | ${r.acked} | ${r.unknown} | ${r.lost} | ${r.stale} | ${r.phantom} | ${r.moves.completed} / ${r.moves.retried} / ${r.moves.aborted} (${r.moves.total}) | ${r.converged ? 'yes' : 'no'} | ${r.seconds} s |`,
  )
  const notes = rows.flatMap((r) => (r.notes.length ? [`- **${r.scenario}**: ${r.notes.join('; ')}`] : []))
  return [head, sep, ...lines, '', ...notes].join('\n')
}
