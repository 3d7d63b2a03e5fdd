// Every error a sender, a client or an operator can cause, defined once with a code,
// a status and a message that says what to do (the way Fastify keeps FST_ERR_*).
import createError from '@fastify/error'

export const PusherError = {
  // Configuration: thrown at registration, before anything listens.
  CONFIG: createError('PUSHER_ERR_CONFIG', 'fastify-pusher: %s'),

  // Senders (HTTP API).
  SENDER_UNAUTHORIZED: createError(
    'PUSHER_ERR_SENDER_UNAUTHORIZED',
    'Missing or unknown API key: send "Authorization: Bearer <key>" with a key from PUSHER_API_KEY',
    401,
  ),
  USER_OFFLINE: createError(
    'PUSHER_ERR_USER_OFFLINE',
    'User "%s" has no open connection on this hub; nothing was sent (retry when the user is connected)',
    404,
  ),
  MESSAGE_TOO_LARGE: createError(
    'PUSHER_ERR_MESSAGE_TOO_LARGE',
    'Message is %d bytes, over the %d-byte limit (maxMessageBytes); split it or raise the limit',
    413,
  ),
  CLUSTER_UNAVAILABLE: createError(
    'PUSHER_ERR_CLUSTER_UNAVAILABLE',
    'Redis is unreachable, so this node cannot reach the other nodes of the cluster; nothing was sent (retry shortly)',
    503,
  ),
  SEND_RATE_LIMITED: createError(
    'PUSHER_ERR_SEND_RATE_LIMITED',
    '%s made more than %d requests in a second (PUSHER_SEND_RATE_LIMIT); retry in %s, or batch messages with /send/batch',
    429,
  ),
  STORE_DISABLED: createError(
    'PUSHER_ERR_STORE_DISABLED',
    'Durable delivery (ttl, durable) needs a message store: set PUSHER_DB (or REDIS_URL for a cluster)',
    400,
  ),
  STORE_UNAVAILABLE: createError(
    'PUSHER_ERR_STORE_UNAVAILABLE',
    'The message store could not be reached (%s); nothing was stored: retry shortly',
    503,
  ),
  MESSAGE_NOT_FOUND: createError(
    'PUSHER_ERR_MESSAGE_NOT_FOUND',
    'No message "%s" is kept: the id is wrong, or it was acknowledged or expired long enough ago to be forgotten',
    404,
  ),
  ROUTE_NOT_FOUND: createError(
    'PUSHER_ERR_ROUTE_NOT_FOUND',
    'No route %s %s: the hub serves GET /ws, POST|GET /send, POST /send/batch, POST /broadcast, GET /messages/:id, GET /users/:uid, POST /presence, GET /stats, POST /users/:uid/disconnect, POST /users/:uid/revoke, POST /publish, POST /publish/batch, POST /users/:uid/topics, GET /topics/<name>, GET /metrics, GET /health, GET /ready and GET /openapi.json (which lists every route)',
    404,
  ),
  // Operators and orchestrators (GET /ready).
  NOT_READY: createError(
    'PUSHER_ERR_NOT_READY',
    'This node cannot deliver messages now (%s); send to and connect through another node until it answers 200',
    503,
  ),
  SHUTTING_DOWN: createError(
    'PUSHER_ERR_SHUTTING_DOWN',
    'The hub is shutting down; retry against another node',
    503,
  ),
  INVALID_TTL: createError(
    'PUSHER_ERR_INVALID_TTL',
    '%s must be a whole number of seconds from 1 to 2592000 (30 days), as a JSON number or a string of digits; nothing was sent',
    400,
  ),
  INVALID_REVOCATION: createError('PUSHER_ERR_INVALID_REVOCATION', '%s; nothing was revoked', 400),
  INVALID_UID: createError(
    'PUSHER_ERR_INVALID_UID',
    '%s; nothing was sent or stored',
    400,
  ),
  INVALID_TOPIC: createError('PUSHER_ERR_INVALID_TOPIC', '%s; nothing was published or changed', 400),

  // Connecting clients (GET /ws), answered with 401 before the upgrade.
  TOKEN_MISSING: createError(
    'PUSHER_ERR_TOKEN_MISSING',
    'No token: pass a JWT as ?token=, as "Authorization: Bearer <jwt>", or as a "bearer.<jwt>" WebSocket subprotocol',
    401,
  ),
  TOKEN_INVALID: createError('PUSHER_ERR_TOKEN_INVALID', 'Token rejected (%s): %s', 401),
  INVALID_SINCE: createError(
    'PUSHER_ERR_INVALID_SINCE',
    '?since= must be the seq of the last message the client saw, a whole number (0 for everything kept)',
    400,
  ),
  TOO_MANY_CONNECTIONS: createError(
    'PUSHER_ERR_TOO_MANY_CONNECTIONS',
    'User "%s" already holds %d connections on this node (PUSHER_MAX_CONNECTIONS_PER_USER); close one before opening another',
    429,
  ),
  HUB_FULL: createError(
    'PUSHER_ERR_HUB_FULL',
    'This node holds its maximum of %d connections (PUSHER_MAX_CONNECTIONS); retry later or against another node',
    503,
  ),
  ORIGIN_FORBIDDEN: createError(
    'PUSHER_ERR_ORIGIN_FORBIDDEN',
    'Pages from this origin may not connect: add it to PUSHER_ALLOWED_ORIGINS',
    403,
  ),
  // Senders and connecting clients: too many bad credentials from one address.
  TOO_MANY_FAILURES: createError(
    'PUSHER_ERR_TOO_MANY_FAILURES',
    'Too many failed authentications from this address; retry in %d s with a valid token or API key',
    429,
  ),
  UPGRADE_REQUIRED: createError(
    'PUSHER_ERR_UPGRADE_REQUIRED',
    'This route speaks WebSocket only: connect with a WebSocket client',
    426,
  ),
} as const
