import {readFileSync} from 'node:fs'
import {UserError} from '../errors/errors.js'
import {type RouterCredentials} from '../router/routerClient.js'
import {loadTlsMaterial, type TlsPaths} from '../transport/tlsMaterial.js'
import {readFailure} from '../fs/fileFailure.js'

/**
 * loadRouterCredentials turns a client's flags into {@link RouterCredentials}: TLS needs
 * only the CA (a certificate and key make it a certificate user), and the token comes from
 * a file so it never sits in a command line. Throws UserError(BAD_INPUT) naming the flag and
 * file when one cannot be read or the token file is empty; never quotes the token.
 */
export function loadRouterCredentials(tls: TlsPaths, tokenFile: string | undefined): RouterCredentials {
  const creds: RouterCredentials = {tls: loadTlsMaterial(tls, 'ca-only')}
  if (tokenFile !== undefined) {
    let text: string
    try {
      text = readFileSync(tokenFile, 'utf8').trim()
    } catch (err) {
      throw new UserError('BAD_INPUT', `--auth-token-file: cannot read ${tokenFile} (${readFailure(err)})`, 'pass the file `shardctl user add --token-file` wrote')
    }
    if (text === '' || /\s/.test(text)) throw new UserError('BAD_INPUT', `--auth-token-file: ${tokenFile} does not hold one token`, 'pass the file `shardctl user add --token-file` wrote')
    creds.token = text
  }
  return creds
}
