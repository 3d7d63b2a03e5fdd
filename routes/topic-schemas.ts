// Request and response shapes of the topic routes: publish, the backend's subscribe and
// unsubscribe of a user, and who watches a topic. Unknown fields are errors, as in the
// sender API (schemas.ts). Topic names and uids are only typed here: the bus checks them
// (lib/topics/name.ts, lib/auth/uid.ts) and answers with their own codes, so that the
// API and app.bus refuse the same names with the same words.
import { Type } from 'typebox'
import type { PusherConfig } from '../lib/config/config.js'
import { MAX_TTL_SECONDS } from '../lib/store/ttl.js'

export function topicSchemas(config: Pick<PusherConfig, 'maxUidLength' | 'maxBatchSize' | 'maxTopicLength' | 'maxTopicsPerConnection'>) {
  const strict = { additionalProperties: false } as const
  const topic = Type.String({ description: `a topic name: 1 to ${config.maxTopicLength} ASCII letters, digits and _-.:@/ (PUSHER_MAX_TOPIC_LENGTH)` })
  const message = Type.String({ description: 'sent as one WebSocket text frame: the bare text to plain clients, {"topic","time","data"} to framed ones' })
  const uid = Type.String({ description: `a user id: 1 to ${config.maxUidLength} UTF-16 code units of well-formed Unicode` })
  const partial = Type.Optional(Type.Literal(true, { description: 'Redis was unreachable: only this node\'s connections were reached' }))
  const nodes = Type.Integer({ description: 'nodes holding at least one subscriber it was written to' })

  // Only the type is checked here: lib/store/ttl.ts reads the value and its bounds, for every spelling.
  const ttl = Type.Optional(Type.Union([Type.Number(), Type.String()], {
    description: `keep the message in the topic's history for this many seconds, for subscribers that resume with \`since\`: a whole number from 1 to ${MAX_TTL_SECONDS} (30 days), as a number or a string of digits. The history keeps at most PUSHER_TOPIC_HISTORY_SIZE messages per topic`,
  }))
  const id = Type.Optional(Type.String({ description: 'with ttl: the message\'s id' }))
  const seq = Type.Optional(Type.Integer({ description: 'with ttl: its place in the topic\'s stream, as framed clients see it' }))

  const PublishBody = Type.Object({ topic, message, ttl }, strict)
  const Published = Type.Object({
    delivered: Type.Integer({ description: 'subscribed connections the message was written to, on every node; 0 when nobody watches the topic' }),
    nodes,
    partial,
    id,
    seq,
  })
  const PublishBatchBody = Type.Object({
    messages: Type.Array(Type.Object({ topic, message, ttl }, strict), {
      minItems: 1, maxItems: config.maxBatchSize, description: `1 to ${config.maxBatchSize} messages (PUSHER_MAX_BATCH_SIZE), each to its topic`,
    }),
    // For every message of the batch; a message's own ttl wins.
    ttl,
  }, strict)
  const PublishedBatch = Type.Object({
    delivered: Type.Integer({ description: 'connections written to, over all messages' }),
    results: Type.Array(Type.Object({ topic: Type.String(), delivered: Type.Integer(), nodes: Type.Integer(), id, seq }), { description: 'one per message, in request order' }),
    partial,
  })

  const topicList = (what: string) => Type.Optional(Type.Array(topic, {
    maxItems: config.maxTopicsPerConnection,
    description: `topics to ${what}, at most ${config.maxTopicsPerConnection} (PUSHER_MAX_TOPICS_PER_CONNECTION)`,
  }))
  const UserParams = Type.Object({ uid }, strict)
  const TopicChangeBody = Type.Object({
    subscribe: topicList('watch from now on'),
    unsubscribe: topicList('stop watching (applied before subscribe)'),
  }, strict)
  const TopicChange = Type.Object({
    uid: Type.String(),
    connections: Type.Integer({ description: 'open connections of the user it applied to, on every node' }),
    subscribed: Type.Integer({ description: 'subscriptions made, one per connection and topic (a connection that watched the topic already is not counted)' }),
    unsubscribed: Type.Integer({ description: 'subscriptions ended, one per connection and topic' }),
    refused: Type.Integer({ description: 'subscriptions not made: the connection watched PUSHER_MAX_TOPICS_PER_CONNECTION topics already' }),
    nodes: Type.Integer({ description: 'nodes holding at least one of those connections' }),
    partial,
  })

  // A wildcard, not `:topic`: a name holds `/`, sent as is or as %2F, and a parameter
  // would also be cut at find-my-way's maxParamLength (100 by default in a host app).
  const TopicParams = Type.Object({
    '*': Type.String({ description: 'the topic name, the rest of the path: /topics/order/42 and /topics/order%2F42 both ask about order/42' }),
  }, strict)
  const TopicInfo = Type.Object({
    topic: Type.String(),
    subscribers: Type.Integer({ description: 'connections watching it, on every node' }),
    users: Type.Integer({ description: 'users those connections belong to (a user watching from two nodes counts on each)' }),
    nodes: Type.Integer({ description: 'nodes with at least one subscriber' }),
  })

  return { PublishBody, Published, PublishBatchBody, PublishedBatch, UserParams, TopicChangeBody, TopicChange, TopicParams, TopicInfo }
}
