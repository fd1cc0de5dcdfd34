/**
 * terminationSignal resolves with the first SIGTERM or SIGINT the process receives, for
 * long-running commands that shut down gracefully; the listeners are removed afterwards so
 * a second signal falls back to Node's default (exit at once).
 */
export function terminationSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on)
      process.off('SIGINT', on)
      resolve(signal)
    }
    process.on('SIGTERM', on)
    process.on('SIGINT', on)
  })
}
