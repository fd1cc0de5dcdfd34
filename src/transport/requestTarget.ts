/**
 * requestTargetUrl is a request's target (`req.url`) read as a URL on this server, or
 * undefined when it is none. node:http hands the handler whatever the request line held:
 * `GET //` (what `curl http://node:7001//` sends), an absolute `http://[x` or one with a port
 * out of range is taken as is, and `new URL` of it throws. Called from an event listener (the
 * metrics hook on 'finish'), that throw was an uncaught exception, which ends a Node 20
 * process: one mistyped probe took a storage node down. Callers answer undefined with a 400
 * and label it in metrics as not a route.
 */
export function requestTargetUrl(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://node')
  } catch {
    return undefined
  }
}
