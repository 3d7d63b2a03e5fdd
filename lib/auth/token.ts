// Where a connecting client's token can come from. go-pusher read `?token=`; browsers
// cannot set headers on a WebSocket, but they can offer subprotocols, so a
// `bearer.<jwt>` entry in Sec-WebSocket-Protocol carries it too (JWTs are made of
// base64url and dots, all legal in a protocol token). Other clients use the
// Authorization header.

import { BEARER_PROTOCOL_PREFIX, PROTOCOL_FRAMED, PROTOCOL_TEXT } from '../protocol.js'

export { PROTOCOL_FRAMED, PROTOCOL_TEXT } from '../protocol.js'
const BEARER_HEADER_PREFIX = /^bearer\s+/i

export interface TokenSources {
  query: unknown
  authorization: string | undefined
  protocols: string | undefined
}

/** The first token found, in go-pusher's order of precedence: query, header, subprotocol. */
export function extractToken({ query, authorization, protocols }: TokenSources): string | undefined {
  const fromQuery = (query as { token?: unknown } | undefined)?.token
  if (typeof fromQuery === 'string' && fromQuery !== '') return fromQuery
  if (authorization !== undefined && BEARER_HEADER_PREFIX.test(authorization)) {
    const token = authorization.replace(BEARER_HEADER_PREFIX, '').trim()
    if (token !== '') return token
  }
  for (const protocol of splitProtocols(protocols)) {
    if (protocol.startsWith(BEARER_PROTOCOL_PREFIX) && protocol.length > BEARER_PROTOCOL_PREFIX.length) {
      return protocol.slice(BEARER_PROTOCOL_PREFIX.length)
    }
  }
  return undefined
}

/**
 * The subprotocol to answer with: the framed one when offered, else the plain one when
 * offered, otherwise none. Never the bearer entry, so the token is not echoed into
 * response headers and proxy logs.
 */
export function selectProtocol(offered: Iterable<string>): string | false {
  let selected: string | false = false
  for (const protocol of offered) {
    if (protocol === PROTOCOL_FRAMED) return protocol
    if (protocol === PROTOCOL_TEXT) selected = protocol
  }
  return selected
}

function splitProtocols(header: string | undefined): string[] {
  if (header === undefined) return []
  return header.split(',').map((p) => p.trim())
}
