// Who may connect and who may send. Connecting clients go through the `authenticator`
// decorator (go-pusher's Authenticator interface): JWT by default, replaced by the
// `authenticator` option or by decorating `authenticator` before registering the hub.
// Senders present an API key, checked in constant time by @fastify/bearer-auth.
import fastifyBearerAuth from '@fastify/bearer-auth'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { AuthFailure, type AuthFailureReason, hintFor } from '../lib/auth/failures.js'
import { type AuthorizeTopicFn, type Identity, jwtIdentity, topicTokenAuthorizer } from '../lib/auth/jwt-identity.js'
import { jwtVerifier, type VerifyJwt } from '../lib/auth/jwt-verifier.js'

export type { AuthorizeTopicFn, Identity } from '../lib/auth/jwt-identity.js'
import type { PusherConfig } from '../lib/config/config.js'
import { PusherError } from '../lib/errors.js'
import { checkIdentity } from '../lib/auth/identity.js'
import { extractToken } from '../lib/auth/token.js'
import { Revocations } from '../lib/auth/revocations.js'
import type { RefreshVerifier, TopicAuthorizer } from '../lib/hub/hub-types.js'

/** Decides who a connecting request belongs to; resolves to an identity, or throws to refuse. */
export type AuthenticateFn = (request: FastifyRequest) => Identity | Promise<Identity>
export interface Authenticator {
  authenticate: AuthenticateFn
  /**
   * Optional: checks the token a framed client sends to refresh its open connection
   * (`{"type":"refresh","token":...}`) and resolves to the identity it proves, or throws
   * to refuse it. Its answer gets the same checks as authenticate's, and must be the
   * connection's own user. Without it, a refresh closes the connection with 4005.
   */
  refresh?(token: string): Identity | Promise<Identity>
}

/** Failures counted by reason; `api_key` counts senders turned away. */
export type AuthFailureCounts = Record<AuthFailureReason | 'api_key', number>

declare module 'fastify' {
  interface FastifyInstance {
    authenticator: Authenticator
    /**
     * Runs the authenticator, sets `request.uid` and `request.uidExpiresAt`, and checks the
     * uid; throws (or rejects with) a 401 error with a reason, or 429 when the client's
     * address has failed too often.
     */
    authenticateConnection(request: FastifyRequest): void | Promise<void>
    /** onRequest hook for sender routes: 401 unless a valid API key is presented. */
    verifySender: onRequestHookHandler
    authFailures: AuthFailureCounts
    /** Users' revoked tokens (POST /users/:uid/revoke): checked at every connect and refresh, kept the same on every node by the bus. */
    revocations: Revocations
    /**
     * Checks an in-band refresh token through the authenticator's `refresh`, as strictly
     * as a connecting client's token; null when the authenticator has none. The hub
     * plugin hands it to the hub.
     */
    verifyRefresh: RefreshVerifier | null
    /**
     * Who may watch a topic on a framed client's request: the authorizeTopic option, or a
     * decorator of that name set before registering the hub; by default, with JWT, a topic
     * token (a JWT with the user's uid or sub and a `topic` claim, signed with the same key).
     * Null: no client subscribe is allowed (a custom authenticator and no hook).
     */
    authorizeTopic: AuthorizeTopicFn | null
    /** authorizeTopic, as the hub calls it. */
    topicAuthorizer: TopicAuthorizer | null
  }
  interface FastifyRequest {
    /** The connecting user's id, set by authenticateConnection. */
    uid: string
    /** When the credentials that proved `uid` expire, in ms since the epoch; 0: never. */
    uidExpiresAt: number
    /** When those credentials were issued, in ms since the epoch; 0: unknown. */
    uidIssuedAt: number
    /** Topics the connection watches from the start (the token's `topics`); null: none. */
    uidTopics: string[] | null
  }
}

export interface AuthPluginOptions {
  config: PusherConfig
  authenticator?: Authenticator | AuthenticateFn
  authorizeTopic?: AuthorizeTopicFn
}

function jwtAuthenticator(verify: VerifyJwt): Authenticator {
  const identityOf = (token: string): Identity => jwtIdentity(verify, token)
  return {
    authenticate(request) {
      const token = extractToken({
        query: request.query,
        authorization: request.headers.authorization,
        protocols: request.headers['sec-websocket-protocol'],
      })
      if (token === undefined) throw Object.assign(new PusherError.TOKEN_MISSING(), { reason: 'missing_token' })
      return identityOf(token)
    },
    // An in-band refresh gets the same verification: pinned algorithms, issuer, audience, uid or sub.
    refresh: identityOf,
  }
}

async function authPlugin(fastify: FastifyInstance, { config, authenticator, authorizeTopic }: AuthPluginOptions) {
  let verifyJwt: VerifyJwt | undefined
  if (authenticator !== undefined) {
    fastify.decorate('authenticator', typeof authenticator === 'function' ? { authenticate: authenticator } : authenticator)
  } else if (!fastify.hasDecorator('authenticator')) {
    if (config.jwt === undefined) throw new PusherError.CONFIG('no authenticator and no JWT key')
    verifyJwt = jwtVerifier(config.jwt)
    fastify.decorate('authenticator', jwtAuthenticator(verifyJwt))
  }
  if (authorizeTopic !== undefined) fastify.decorate('authorizeTopic', authorizeTopic)
  else if (!fastify.hasDecorator('authorizeTopic')) fastify.decorate('authorizeTopic', verifyJwt === undefined ? null : topicTokenAuthorizer(verifyJwt))
  const topicHook = fastify.authorizeTopic
  if (topicHook !== null && typeof topicHook !== 'function') throw new PusherError.CONFIG('authorizeTopic must be a function (uid, topic, { token }) => boolean')
  const topicAuthorizer: TopicAuthorizer | null = topicHook === null ? null : ({ uid, topic, token }) => topicHook(uid, topic, { token })
  fastify.decorate('topicAuthorizer', topicAuthorizer)
  if (typeof fastify.authenticator?.authenticate !== 'function') {
    throw new PusherError.CONFIG('the authenticator must have an authenticate(request) method')
  }

  const failures: AuthFailureCounts = {
    missing_token: 0, malformed: 0, bad_signature: 0, algorithm: 0, expired: 0,
    not_yet_valid: 0, claims: 0, invalid_uid: 0, rejected: 0, revoked: 0, invalid_topics: 0, api_key: 0,
  }
  fastify.decorate('authFailures', failures)
  const revocations = new Revocations()
  fastify.decorate('revocations', revocations)
  fastify.decorateRequest('uid', '')
  fastify.decorateRequest('uidExpiresAt', 0)
  fastify.decorateRequest('uidIssuedAt', 0)
  fastify.decorateRequest('uidTopics', null)

  const { refusals, failures: throttle } = fastify.pusherLimits

  /** An authenticator's error as the refusal the client gets, counted by reason. */
  const refusal = (error: unknown, request: FastifyRequest): Error => {
    const reason: AuthFailureReason = (error as { reason?: AuthFailureReason }).reason ?? 'rejected'
    failures[reason]++
    throttle.recordFailure(request.ip)
    refusals.log(reason, request.ip, `connection refused: ${(error as Error).message}`)
    // Our own failures and a custom authenticator's 4xx errors go out as they are;
    // anything else (a plain Error, a crash) is a refusal, never a 500 to the client.
    const status = (error as { statusCode?: number }).statusCode
    if (status !== undefined && status >= 400 && status < 500) return error as Error
    return new AuthFailure('rejected', (error as Error).message || hintFor('rejected'))
  }
  /** An authenticator's answer, checked, and not revoked: for a connect and for a refresh alike. */
  const credentialsOf = (identity: unknown) => {
    const checked = checkIdentity(identity, config, Date.now())
    if ('reason' in checked || !revocations.isRevoked(checked.uid, checked.issuedAt)) return checked
    return { reason: 'revoked' as const, message: hintFor('revoked') }
  }
  /** Puts a checked identity on the request. */
  const accept = (request: FastifyRequest, identity: unknown): void => {
    const checked = credentialsOf(identity)
    if ('reason' in checked) throw refusal(new AuthFailure(checked.reason, checked.message), request)
    request.uid = checked.uid
    request.uidExpiresAt = checked.expiresAt
    request.uidIssuedAt = checked.issuedAt
    request.uidTopics = checked.topics ?? null
  }
  /** 429 before any verification work for an address that failed too often. */
  const throttled = (request: FastifyRequest): (Error & { retryAfter: number }) | undefined => {
    if (throttle.quiet) return undefined
    const waitMs = throttle.retryAfterMs(request.ip)
    if (waitMs === 0) return undefined
    const seconds = Math.ceil(waitMs / 1000)
    refusals.refuse('rate', request.ip, `${request.method} ${request.routeOptions.url}: too many authentication failures, refused for ${seconds} s`)
    return Object.assign(new PusherError.TOO_MANY_FAILURES(seconds), { retryAfter: seconds })
  }

  // Synchronous when the authenticator is (JWT is): a handshake then costs no promise.
  fastify.decorate('authenticateConnection', function authenticateConnection(request: FastifyRequest): void | Promise<void> {
    const tooMany = throttled(request)
    if (tooMany !== undefined) throw tooMany
    let identity: Identity | Promise<Identity>
    try {
      identity = fastify.authenticator.authenticate(request)
    } catch (error) {
      throw refusal(error, request)
    }
    if (!(identity instanceof Promise)) return accept(request, identity)
    return identity.then((resolved) => accept(request, resolved), (error: unknown) => {
      throw refusal(error, request)
    })
  })

  // A refused refresh closes its connection (4005) and is counted by the hub, not here:
  // the address is not throttled, since retrying takes a new connection with a valid token.
  const { authenticator: current } = fastify
  const refresh = typeof current.refresh === 'function' ? current.refresh.bind(current) : undefined
  /** A refresh token's identity, held to the rules of accept(). */
  const refreshed = (identity: Identity) => {
    const checked = credentialsOf(identity)
    if ('reason' in checked) throw new AuthFailure(checked.reason, checked.message)
    return checked
  }
  fastify.decorate('verifyRefresh', refresh === undefined ? null : (token: string) => {
    const identity = refresh(token)
    return identity instanceof Promise ? identity.then(refreshed) : refreshed(identity)
  })

  let verifyBearer: NonNullable<FastifyInstance['verifyBearerAuth']> | undefined
  await fastify.register(async (child) => {
    // rfc6749: the scheme is case-insensitive ("bearer", "BEARER"), as RFC 7235 says.
    // Its own line per failure goes to trace: refusals are logged below, summarised.
    await child.register(fastifyBearerAuth, { keys: config.apiKeys, addHook: false, specCompliance: 'rfc6749', verifyErrorLogLevel: 'trace' })
    verifyBearer = child.verifyBearerAuth
  })
  fastify.decorate('verifySender', function verifySender(request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) {
    const tooMany = throttled(request)
    if (tooMany !== undefined) {
      reply.header('retry-after', tooMany.retryAfter)
      return done(tooMany)
    }
    verifyBearer!(request, reply, (error) => {
      if (error === undefined) return done()
      failures.api_key++
      throttle.recordFailure(request.ip)
      refusals.log('api_key', request.ip, `${request.method} ${request.routeOptions.url}: sender refused, missing or unknown API key`)
      reply.header('www-authenticate', 'Bearer realm="fastify-pusher"')
      done(new PusherError.SENDER_UNAUTHORIZED())
    })
  })
}

export default fp(authPlugin, { fastify: '5.x', name: 'pusher-auth', dependencies: ['pusher-limits'] })
