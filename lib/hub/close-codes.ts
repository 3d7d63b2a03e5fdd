// WebSocket close codes the hub sends, shared with the client library (no imports).
// 1000-1015 are RFC 6455 codes; 4000-4999 are reserved for applications, so our own
// reasons live there and a client can tell a slow-consumer cut (reconnect and resync)
// or an expired token (fetch a fresh one) from a shutdown (reconnect elsewhere).
export const CloseCode = {
  /** The server is shutting down; reconnect (to another node) after a short delay. */
  GOING_AWAY: 1001,
  /** A framed client sent something other than an ack, or a client flooded frames; the reason says which. */
  POLICY_VIOLATION: 1008,
  /** An inbound frame was larger than `maxInboundBytes` (sent by `ws` itself). */
  MESSAGE_TOO_BIG: 1009,
  /** The token the connection was opened with expired: fetch a fresh one and reconnect at once. */
  TOKEN_EXPIRED: 4001,
  /** The backend disconnected the user (POST /users/:uid/disconnect): the client may reconnect, after its backoff. */
  DISCONNECTED: 4002,
  /** The backend disconnected the user for good (`reconnect: false`): logged out or banned, do not reconnect. */
  DISCONNECTED_FOR_GOOD: 4003,
  /** The backend revoked the user's tokens issued before a time: fetch a fresh token, then reconnect. */
  TOKEN_REVOKED: 4004,
  /** An in-band refresh carried a bad token, or one for another user: fetch a fresh token and reconnect. */
  REFRESH_REFUSED: 4005,
  /** The client read too slowly: its unsent bytes passed `maxBufferedBytes`. */
  SLOW_CONSUMER: 4008,
} as const

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode]
