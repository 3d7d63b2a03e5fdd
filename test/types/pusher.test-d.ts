// Type tests, as the @fastify/* plugins keep them: this file is only type-checked (npm
// run typecheck), never run. Each line states what a Fastify developer's editor must
// accept, and each @ts-expect-error what it must refuse; a change to the public types
// that breaks either fails the typecheck. (test/process/package.test.ts checks the same from
// the packed tarball's declarations, in a scratch app.)
import Fastify, { type FastifyRequest } from 'fastify'
import pusher, { type BatchDelivery, type Bus, CloseCode, type Delivery, Hub, type MessageStore, type PublishBatchDelivery, type PusherOptions } from '../../app.js'
import { PusherClient, type PusherMessage, type SubscribedInfo } from '../../client/index.js'

/** Compiles only if `value` has exactly type T (as far as assignability both ways shows). */
function expectType<T>(_value: T): void {}

const app = Fastify()
await app.register(pusher, { jwt: { secret: 'x'.repeat(32) }, apiKeys: ['k'.repeat(20)], maxConnectionsPerUser: 10 })
// @ts-expect-error an unknown option is refused
await app.register(pusher, { jwt: { secret: 'x'.repeat(32) }, apiKeys: ['k'.repeat(20)], maxConectionsPerUser: 10 })
// @ts-expect-error a limit is a number
const badLimit: PusherOptions = { maxConnections: '100' }
void badLimit

// What the suite decorates.
expectType<Bus>(app.bus)
expectType<Hub>(app.hub)
expectType<MessageStore | undefined>(app.store)
expectType<number>(app.pusherLimits.refusals.counts.user_cap)

// Sends: plain, durable, batch; synchronous on one node, a promise in a cluster.
expectType<Delivery | Promise<Delivery>>(app.bus.send('alice', 'hello'))
const durable = await app.bus.send('alice', 'kept', { ttl: 60 })
expectType<string | undefined>(durable.id)
expectType<'delivered' | 'queued' | undefined>(durable.status)
expectType<BatchDelivery | Promise<BatchDelivery>>(app.bus.sendBatch([{ uid: 'a', message: 'm', ttl: 30 }], { durable: true }))
// @ts-expect-error a message is a string
app.bus.send('alice', { text: 'hello' })
// @ts-expect-error ttl is seconds, not a Date
app.bus.send('alice', 'hello', { ttl: new Date() })

// The hub's events carry the connection and the reason.
app.hub.on('disconnect', (connection, reason) => {
  expectType<string>(connection.uid)
  expectType<'client_closed' | 'slow_consumer' | 'heartbeat_timeout' | 'shutdown' | 'protocol_error' | 'token_expired' | 'frame_flood' | 'kicked' | 'revoked' | 'refresh_refused'>(reason)
})

// A custom authenticator may give an expiry; request.uid is typed on every request.
Fastify().register(pusher, {
  apiKeys: ['k'.repeat(20)],
  authenticator: async (request: FastifyRequest) => ({ uid: String(request.headers['x-user']), expiresAt: Date.now() + 60_000 }),
})
// ...and a refresh(token) for framed clients' in-band refresh, answering like authenticate.
Fastify().register(pusher, {
  apiKeys: ['k'.repeat(20)],
  authenticator: {
    authenticate: (request: FastifyRequest) => String(request.headers['x-user']),
    refresh: async (token: string) => ({ uid: token, expiresAt: Date.now() + 60_000, issuedAt: Date.now() }),
  },
})
// @ts-expect-error refresh gets the token, not the request
Fastify().register(pusher, { apiKeys: ['k'.repeat(20)], authenticator: { authenticate: () => 'u', refresh: (request: FastifyRequest) => request.uid } })
app.get('/me', async (request) => {
  expectType<string>(request.uid)
  return { uid: request.uid }
})
app.addHook('onRequest', app.verifySender)

// The client library and the close codes it shares with the hub.
const client = new PusherClient({ url: 'wss://push.example.com/ws', token: async () => 'jwt' })
client.on('message', (message) => expectType<PusherMessage>(message))
client.on('close', ({ code }) => {
  if (code === CloseCode.TOKEN_EXPIRED || code === CloseCode.REFRESH_REFUSED) expectType<number>(code)
})
client.on('refresh', ({ expiresAt }) => expectType<number | null>(expiresAt))

// Topics: a publish with a ttl is kept in the topic's history and answers its seq.
const kept = await app.bus.publish('order/7', 'shipped', { ttl: 60 })
expectType<number | undefined>(kept.seq)
expectType<PublishBatchDelivery | Promise<PublishBatchDelivery>>(app.bus.publishBatch([{ topic: 'a', message: 'm', ttl: '30' }], { ttl: 60 }))
// @ts-expect-error a publish has no `durable`: give it a ttl
app.bus.publish('order/7', 'shipped', { durable: true })
// A subscription resumes from a kept seq, and says whether it recovered what it missed.
const orders = client.subscribe('order/7', { token: async () => 'topic jwt', since: 1_764_480_000_000_007 })
orders.on('subscribed', (info) => expectType<SubscribedInfo>(info))
orders.on('message', (_data, { seq }) => expectType<number | undefined>(seq))
expectType<number | undefined>(orders.seq)
