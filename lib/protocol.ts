// The names of the wire protocol, shared by the hub (lib/) and the client library
// (client/): one definition, so the two cannot drift apart. No imports, nothing
// Node-only: the client bundles this file for browsers.

/** The plain subprotocol: bare text frames, as go-pusher sent them. */
export const PROTOCOL_TEXT = 'pusher.v1'
/** The framed protocol (lib/hub/envelope.ts): JSON envelopes with id and seq, acks, resume with ?since=. */
export const PROTOCOL_FRAMED = 'pusher.framed.v1'
/** A `bearer.<jwt>` subprotocol entry carries a browser's token (browsers cannot set headers). */
export const BEARER_PROTOCOL_PREFIX = 'bearer.'
