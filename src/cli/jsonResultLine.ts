/**
 * writeJsonResultLine prints a command's final `--json` value as one line tagged
 * `"type": "result"`. Commands that stream JSON-lines events before it (`apply`,
 * `node drain`) use it for their result and their error body alike, so every line of their
 * output parses on its own and the last one is the outcome; oclif's default pretty-prints
 * over many lines.
 */
export function writeJsonResultLine(json: unknown, write: (line: string) => void = (line) => process.stdout.write(line)): void {
  write(`${JSON.stringify({type: 'result', ...(json as object)})}\n`)
}
