import {isIP} from 'node:net'

// A DNS label: 1-63 letters, digits or "-", not starting or ending with "-".
const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/

/**
 * certHostProblem says what is wrong with `host` as a certificate SAN, or returns null when
 * it is an IP address or a DNS name (a leading `*.` wildcard allowed). A value that is
 * neither (`127.0.0.1:7101`, `bad host!`, `999.1.1.1`) would be written as a DNS name no
 * peer ever dials, so the certificate would never match: it is refused instead.
 */
export function certHostProblem(host: string): string | null {
  if (isIP(host)) return null
  if (/^[\d.]+$/.test(host)) return 'not a valid IPv4 address'
  if (/:\d+$/.test(host) && isIP(host.replace(/:\d+$/, ''))) return 'an address with a port: give the host alone'
  if (host.length > 253) return 'longer than 253 characters'
  const labels = host.startsWith('*.') ? host.slice(2).split('.') : host.split('.')
  if (!labels.every((l) => LABEL.test(l))) return 'not an IP address or a DNS name (labels of letters, digits and "-")'
  return null
}
