// Topics for the backend (docs/topics.md): publish to whoever watches a topic
// (POST /publish, POST /publish/batch), subscribe a user's connections to topics and out
// of them (POST /users/:uid/topics), and see who watches one (GET /topics/<name>).
// Cluster-wide through the bus; every route needs an API key, as the sender API does.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { PusherConfig } from '../lib/config/config.js'
import { PusherError } from '../lib/errors.js'
import { assertMessageSize } from '../lib/limits/message-size.js'
import { errorResponses } from './error-schema.js'
import { messageBodyLimit, SENDER_ERRORS } from './schemas.js'
import { limitSendRate } from './send-rate.js'
import { topicSchemas } from './topic-schemas.js'
import { senderScope } from './validation.js'

export interface TopicRoutesOptions {
  config: PusherConfig
}

async function topicRoutes(instance: FastifyInstance, { config }: TopicRoutesOptions) {
  const fastify = senderScope(instance)
  // Counted apart from the sender routes': a key may make PUSHER_SEND_RATE_LIMIT of each a second.
  if (config.sendRateLimit > 0) await limitSendRate(instance, config)

  const schemas = topicSchemas(config)
  const tags = ['topics']
  const { bus } = fastify
  const checkSize = (message: string): void => assertMessageSize(message, config.maxMessageBytes)

  fastify.post('/publish', {
    bodyLimit: messageBodyLimit(config.maxMessageBytes, config.maxTopicLength),
    schema: {
      summary: 'Publish a message to every connection watching a topic, on every node',
      description: 'A topic nobody watches is not an error: 200 with `delivered: 0`. Without `ttl` nothing is kept. With `ttl` the message is kept in the topic\'s history first (it needs a message store) and gets a seq: framed subscribers that were away get it when they subscribe again with `since` (docs/topics.md).',
      tags,
      body: schemas.PublishBody,
      response: {
        200: { ...schemas.Published, description: 'written to `delivered` subscribed connections, on `nodes` nodes' },
        ...errorResponses(pick(TOPIC_ERRORS, 400, 401, 413, 415, 429, 503)),
      },
    },
  }, (request) => {
    const { topic, message, ttl } = request.body
    // The bus checks the name (400 PUSHER_ERR_INVALID_TOPIC) and the ttl before it publishes.
    checkSize(message)
    return bus.publish(topic, message, { ttl })
  })

  fastify.post('/publish/batch', {
    bodyLimit: config.maxBatchBytes,
    schema: {
      summary: 'Publish many messages, each to its topic, in one request',
      description: 'The answer lists the messages in request order. A batch is refused whole (nothing published or kept) if any topic name, ttl or message size is wrong. With `ttl` (for all, or per message) messages are kept in their topics\' histories first.',
      tags,
      body: schemas.PublishBatchBody,
      response: {
        200: { ...schemas.PublishedBatch, description: 'per message, how many connections took it' },
        ...errorResponses(pick(TOPIC_ERRORS, 400, 401, 413, 415, 429, 503)),
      },
    },
  }, (request) => {
    // Every size first, so that a batch is refused whole or published whole (the bus
    // checks every name before it publishes anything).
    const { messages, ttl } = request.body
    for (const { message } of messages) checkSize(message)
    return bus.publishBatch(messages, { ttl })
  })

  fastify.post('/users/:uid/topics', {
    // Two lists of valid names: none needs a JSON escape beyond `\/`; room for quotes,
    // commas and pretty-printing around each, and for the rest of the body.
    bodyLimit: 2 * config.maxTopicsPerConnection * (config.maxTopicLength * 2 + 16) + 1024,
    schema: {
      summary: 'Subscribe every connection of a user to topics, and out of others, on every node',
      description: 'Applies to the connections open now, `unsubscribe` first: a connection opened later watches its token\'s `topics` and what it subscribes to itself. At least one of the lists must name a topic. A connection already at PUSHER_MAX_TOPICS_PER_CONNECTION topics is not subscribed to more (counted as `refused`).',
      tags,
      params: schemas.UserParams,
      body: schemas.TopicChangeBody,
      response: {
        200: { ...schemas.TopicChange, description: 'what changed, on every node; `connections: 0` when the user has none open' },
        ...errorResponses({ ...pick(TOPIC_ERRORS, 401, 413, 415, 429, 503), 400: TOPIC_CHANGE_400 }),
      },
    },
  }, (request) => {
    const { subscribe = [], unsubscribe = [] } = request.body
    if (subscribe.length === 0 && unsubscribe.length === 0) {
      throw new PusherError.INVALID_TOPIC('subscribe or unsubscribe must list at least one topic')
    }
    return bus.changeTopics(request.params.uid, { subscribe, unsubscribe })
  })

  fastify.get('/topics/*', {
    schema: {
      summary: 'Who watches a topic, across the cluster',
      description: 'The topic name is the rest of the path, its `/` as they are or percent-encoded: `GET /topics/order/42` and `GET /topics/order%2F42` both ask about `order/42`. A topic nobody watches answers zeros.',
      tags,
      params: schemas.TopicParams,
      response: {
        200: { ...schemas.TopicInfo, description: 'the topic\'s subscribers, on every node' },
        ...errorResponses(pick(TOPIC_ERRORS, 400, 401, 429, 503)),
      },
    },
  }, (request) => bus.topicInfo(request.params['*']))
}

/** What each error status of the topic routes means; each route lists those it can answer. */
const TOPIC_ERRORS: Record<number, string> = {
  400: 'An invalid topic name (PUSHER_ERR_INVALID_TOPIC; for a batch the message names messages[i]), an invalid ttl (PUSHER_ERR_INVALID_TTL) or a ttl without a message store (PUSHER_ERR_STORE_DISABLED), or a missing, unknown or mistyped field, malformed JSON, an empty or too long batch (FST_ERR_VALIDATION). Nothing was published',
  401: SENDER_ERRORS[401],
  413: 'A message over maxMessageBytes in UTF-8 (PUSHER_ERR_MESSAGE_TOO_LARGE), or a body far over any limit. Nothing was published',
  415: 'A body that is not JSON',
  429: 'Too many failed authentications from this address (PUSHER_ERR_TOO_MANY_FAILURES, with Retry-After), or more than PUSHER_SEND_RATE_LIMIT requests a second with this key to the topic routes (PUSHER_ERR_SEND_RATE_LIMITED)',
  503: 'Cluster mode: Redis is unreachable and this node could not answer alone (PUSHER_ERR_CLUSTER_UNAVAILABLE); with ttl, the store could not keep the message (PUSHER_ERR_STORE_UNAVAILABLE); or the hub is shutting down. Retry shortly',
}

const TOPIC_CHANGE_400 = 'An invalid uid (PUSHER_ERR_INVALID_UID) or topic name (PUSHER_ERR_INVALID_TOPIC, naming subscribe[i] or unsubscribe[i]), neither list naming a topic (PUSHER_ERR_INVALID_TOPIC), or a list over PUSHER_MAX_TOPICS_PER_CONNECTION, an unknown or mistyped field (FST_ERR_VALIDATION). Nothing was changed'

function pick(errors: Record<number, string>, ...statuses: number[]): Record<number, string> {
  return Object.fromEntries(statuses.map((status) => [status, errors[status]!]))
}

export default fp(topicRoutes, {
  fastify: '5.x',
  name: 'pusher-topic-routes',
  dependencies: ['pusher-auth', 'pusher-bus'],
  encapsulate: true,
})
