// Preloaded (NODE_OPTIONS=--require) into the processes of partition scenarios: every TCP
// connection to a loopback address leaves from CHAOS_SOURCE_ADDRESS, the process's own
// 127.x address, so iptables rules can name the sender (Linux would pick 127.0.0.1 for all).
// Test-only: the product never loads it.
'use strict'
const net = require('node:net')

const source = process.env.CHAOS_SOURCE_ADDRESS
if (source) {
  const connect = net.Socket.prototype.connect
  net.Socket.prototype.connect = function (...args) {
    // net.connect passes its normalized [options, callback] array as the first argument.
    const first = Array.isArray(args[0]) ? args[0][0] : args[0]
    if (first && typeof first === 'object' && !first.path && first.localAddress == null) {
      const host = first.host ?? 'localhost'
      if (host === 'localhost' || /^127\./.test(host)) first.localAddress = source
    }
    return connect.apply(this, args)
  }
}
