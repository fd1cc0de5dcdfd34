import {type RouterRecord} from '../router/routerRegistration.js'

/**
 * RouterFigures is what the TUI knows about one router's clients, from its leased
 * registration: the latest p99, the request/error totals it published and the request
 * rate derived from its last two publications.
 */
export interface RouterFigures {
  id: string
  /** at is the router's `updatedAt` of the latest publication (ms). */
  at: number
  p99Ms: number | null
  requests: number
  errors: number
  /** reqPerSec is Δrequests / Δtime between the last two publications; null until two arrived. */
  reqPerSec: number | null
  /** errorsSeen counts errors this TUI saw the router report since it first saw the router. */
  errorsSeen: number
}

/**
 * SeriesSample is one point of the live view's time series, taken once a second: the
 * cluster's copy rate against the throttle, and the clients' side as the routers report it.
 */
export interface SeriesSample {
  at: number
  /** copyRate is the sum of the copying moves' rates (bytes/s). */
  copyRate: number
  /** throttle is the global copy throttle (bytes/s); null when unlimited / default. */
  throttle: number | null
  /** reqPerSec sums the routers' request rates; null when no router reported a rate yet. */
  reqPerSec: number | null
  /** p99Ms is the worst router p99; null when no router reported one. */
  p99Ms: number | null
  /** errors is the total client errors seen so far (all routers). */
  errors: number
}

/** SERIES_LIMIT bounds the samples kept: five minutes at one a second. */
export const SERIES_LIMIT = 300

/**
 * nextRouterFigures folds a new registration of a router into what was known of it. A
 * repeated publication (same `updatedAt`) changes nothing; totals that went down mean the
 * router restarted, so the rate restarts too. Pure.
 */
export function nextRouterFigures(before: RouterFigures | undefined, r: RouterRecord): RouterFigures {
  const at = Date.parse(r.updatedAt)
  const requests = r.clientRequests ?? 0
  const errors = r.clientErrors ?? 0
  if (before && before.at === at) return before
  const restarted = !before || requests < before.requests || errors < before.errors
  const dt = before ? (at - before.at) / 1000 : 0
  const reqPerSec = !restarted && dt > 0 && r.clientRequests !== undefined ? (requests - before!.requests) / dt : null
  return {
    id: r.id,
    at,
    p99Ms: r.p99Ms,
    requests,
    errors,
    reqPerSec: reqPerSec ?? (restarted ? null : before!.reqPerSec),
    errorsSeen: (before?.errorsSeen ?? 0) + (restarted ? (before ? errors : 0) : errors - before!.errors),
  }
}

/** sampleOf takes one sample of the series from the routers' figures and the copy figures. Pure. */
export function sampleOf(at: number, routers: Iterable<RouterFigures>, copyRate: number, throttle: number | null): SeriesSample {
  let reqPerSec: number | null = null
  let p99Ms: number | null = null
  let errors = 0
  for (const r of routers) {
    if (r.reqPerSec !== null) reqPerSec = (reqPerSec ?? 0) + r.reqPerSec
    if (r.p99Ms !== null) p99Ms = Math.max(p99Ms ?? 0, r.p99Ms)
    errors += r.errorsSeen
  }
  return {at, copyRate, throttle, reqPerSec, p99Ms, errors}
}

/** appendSample adds `s` to the series, keeping the last SERIES_LIMIT samples. Pure. */
export function appendSample(series: readonly SeriesSample[], s: SeriesSample): readonly SeriesSample[] {
  const next = [...series, s]
  return next.length > SERIES_LIMIT ? next.slice(next.length - SERIES_LIMIT) : next
}
