// The optional request rate per API key (PUSHER_SEND_RATE_LIMIT a second), for the
// sender routes and, counted apart, the topic routes: each route plugin registers it on
// its own scope.
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { PusherConfig } from '../lib/config/config.js'
import { PusherError } from '../lib/errors.js'

/**
 * The optional send rate per API key (PUSHER_SEND_RATE_LIMIT a second), counted by
 * @fastify/rate-limit once the key is verified, so unauthenticated requests never count.
 * A key is named by its place in the list ("API key #2"), never by its value.
 */
export async function limitSendRate(fastify: FastifyInstance, config: PusherConfig): Promise<void> {
  const keyIndex = new Map(config.apiKeys.map((key, i) => [key, i + 1]))
  const keyName = (request: FastifyRequest) => `API key #${keyIndex.get(request.headers.authorization?.slice(7).trim() ?? '') ?? '?'}`
  const { refusals } = fastify.pusherLimits
  await fastify.register(rateLimit, {
    max: config.sendRateLimit,
    timeWindow: 1000,
    hook: 'preHandler',
    keyGenerator: keyName,
    onExceeded: (request, key) => refusals.refuse('send_rate', request.ip, `${key} sent more than ${config.sendRateLimit} requests in a second: 429`),
    errorResponseBuilder: (request, context) => new PusherError.SEND_RATE_LIMITED(keyName(request), context.max, context.after),
  })
}
