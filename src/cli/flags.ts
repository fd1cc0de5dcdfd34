import {Flags} from '@oclif/core'
import {type Capacity, parseCapacity} from '../model/resources.js'
import {type ListenAddress, parseBytes, parseDuration, parseListen, parseRate} from '../model/units.js'

/*
 * The custom flag types of every command, in one place: one parser per unit (durations,
 * byte rates, sizes, listen addresses, capacities), applied by oclif at parse time. A bad
 * value, from the command line or from a flag's environment variable, throws here and
 * becomes a one-line usage error with exit 2 (see renderError), before anything runs.
 * Defaults are given as the text a user would type (`withDefault('30s', parseDuration)`)
 * so help shows `[default: 30s]` and the value goes through the same parser.
 */

/** DurationOptions bound a duration flag: `min` in milliseconds. */
type DurationOptions = {
  min?: number
}

/**
 * durationFlag is a flag in milliseconds: `500ms`, `30s`, `5m`, `1h`, `7d`; a bare number
 * is seconds everywhere. `min` (ms) refuses shorter values.
 */
export const durationFlag = Flags.custom<number, DurationOptions>({
  helpValue: '<duration>',
  async parse(input, _ctx, opts) {
    const ms = parseDuration(input)
    if (opts.min !== undefined && ms < opts.min) throw new RangeError(`"${input}" is shorter than the minimum ${formatMs(opts.min)}`)
    return ms
  },
})

/** rateFlag is a byte rate in bytes per second: `50MiB/s`, `64KiB/s` (the `/s` is optional). */
export const rateFlag = Flags.custom<number>({helpValue: '<rate>', parse: async (input) => parseRate(input)})

/**
 * rateOrAutoFlag is {@link rateFlag} that also takes the word `auto` (the executor's
 * adaptive throttle).
 */
export const rateOrAutoFlag = Flags.custom<number | 'auto'>({helpValue: '<rate>|auto', parse: async (input) => (input.trim() === 'auto' ? 'auto' : parseRate(input))})

/** bytesFlag is a size in bytes: `256KiB`, `100GiB`, `1.5MB` or plain bytes. */
export const bytesFlag = Flags.custom<number>({helpValue: '<size>', parse: async (input) => parseBytes(input)})

/** listenFlag is a `HOST:PORT` to listen on (IPv6 in brackets, port 0 = any free port). */
export const listenFlag = Flags.custom<ListenAddress>({helpValue: '<host:port>', parse: async (input) => parseListen(input)})

/** capacityFlag is a per-resource capacity: `reads=5000,writes=2000,bytes=100GiB` (any subset). */
export const capacityFlag = Flags.custom<Capacity>({helpValue: '<resource=value,...>', parse: async (input) => parseCapacity(input)})

/**
 * withDefault gives a flag its default as typed text: the parsed value as `default` and the
 * text as `defaultHelp`, so help and the value never disagree.
 */
export function withDefault<T>(text: string, parse: (s: string) => T): {default: T; defaultHelp: () => Promise<string>} {
  return {default: parse(text), defaultHelp: async () => text}
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}
