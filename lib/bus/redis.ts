// The cluster bus: nodes joined through Redis. A send goes to this node's connections of
// the user and is published once per other node presence says holds it; a broadcast is
// published once. Redis away never blocks: commands fail fast, sends that need Redis
// answer 503, local sends go on, and presence is rewritten when Redis is back.
// A uid that is not well-formed Unicode is refused (PusherError.INVALID_UID) before
// anything is sent: Redis and the relay carry uids as UTF-8, where "v\ud800" and
// "v\ufffd" are the same bytes (lib/uid.ts).
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis, type RedisOptions } from 'ioredis'
import { type BatchDelivery, type ClusterBus, type ClusterView, type RelayStats, type Delivery, type Disconnection, newBusStats, type OutgoingMessage, type PublishBatchDelivery, type RevocationResult, type TopicChangeResult, type TopicInfo, type UserPresence } from './bus.js'
import { BusBase, type BusOptions } from './base.js'
import type { Revocation } from '../auth/revocations.js'
import { ClusterSessions } from './cluster-sessions.js'
import { ClusterTopics } from './cluster-topics.js'
import type { MessageMeta } from '../hub/envelope.js'
import type { TopicMessageOut } from '../store/durable-publish.js'
import { PusherError } from '../errors.js'
import type { Connection } from '../hub/connection.js'
import type { Hub } from '../hub/hub.js'
import { type LinkLog, watchLink } from '../redis/link.js'
import { type LeaseResult, RedisPresence, type RelayTarget } from '../redis/presence.js'
import { TurnWrites } from '../redis/turn-writes.js'
import { decodeRelay, encodeBroadcast, encodeUnicast } from './relay-codec.js'

export interface RedisBusOptions extends BusOptions {
  /** A redis:// URL, or ioredis options (Sentinel included). */
  redis: string | RedisOptions
  /** Prefix of every key and channel, so several hubs can share one Redis. */
  prefix: string
  nodeId: string
  /** How long a node stays in presence without renewing its lease. */
  leaseTtlMs: number
  log: LinkLog
}

export class RedisBus extends BusBase implements ClusterBus {
  readonly clustered = true
  readonly stats = newBusStats()
  readonly relay: RelayStats = { relayedOut: 0, relayedIn: 0, reconnects: 0 }
  readonly nodeId: string
  private readonly commands: Redis
  private readonly subscriber: Redis
  /** This node's presence in Redis; the webhooks watch its transitions. */
  readonly presence: RedisPresence
  private readonly sessions: ClusterSessions
  private readonly topics: ClusterTopics
  private readonly channel: string
  private readonly broadcastChannel: string
  private view: LeaseResult = { rejoined: false, live: new Set(), connections: 0, users: 0, expired: [] }
  /** This node's presence in Redis, written once per turn with what changed in it. */
  private readonly presenceWrites: TurnWrites
  private leaseTimer: NodeJS.Timeout | undefined
  private closed = false
  /** A subscribe to this node's channels completed on the subscriber's current connection. */
  private relaySubscribed = false
  /** Counts the subscriber's connections, so a subscribe answered on an old one is not taken for the new one. */
  private subscriberConnection = 0
  /** Whether Redis listed a subscriber on this node's channel at the last lease renewal. */
  private relayListed = true
  /** The latest read of the revocations from Redis (sessions.load() logs its own failure). */
  private revocationsLoaded: Promise<boolean> = Promise.resolve(false)

  constructor(private readonly hub: Hub, private readonly options: RedisBusOptions) {
    super(options)
    this.nodeId = options.nodeId
    const base: RedisOptions = typeof options.redis === 'string' ? {} : options.redis
    const connect = (extra: RedisOptions) =>
      typeof options.redis === 'string' ? new Redis(options.redis, { ...extra }) : new Redis({ ...base, ...extra })
    // Fail fast: with no offline queue and no retries a command fails at once while Redis
    // is away, instead of piling up in memory and answering minutes later.
    this.commands = connect({ enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 2000, enableAutoPipelining: true })
    // The subscriber keeps ioredis' defaults: it re-subscribes by itself after a reconnect.
    this.subscriber = connect({})
    this.presence = new RedisPresence(this.commands, options.prefix, this.nodeId)
    this.presenceWrites = new TurnWrites({
      what: 'presence',
      write: (uids) => this.presence.write(uids.map((uid) => [uid, this.hub.connectionsOf(uid)])),
      rewrite: () => this.presence.rewrite(() => this.hub.userConnections()),
      // After close() this node has left: writing presence again would leave it behind.
      canWrite: () => this.redisUp && !this.closed,
      warn: (message) => options.log.warn(message),
    })
    this.sessions = new ClusterSessions({
      hub,
      nodeId: this.nodeId,
      prefix: options.prefix,
      commands: this.commands,
      presence: this.presence,
      revocations: this.revocations,
      liveNodes: () => this.view.live,
      publishTo: (node, payload) => this.publishTo(node, payload),
      publishToAll: (payload) => this.commands.publish(this.broadcastChannel, payload),
      warn: (message) => options.log.warn(message),
    })
    this.topics = new ClusterTopics({
      hub,
      nodeId: this.nodeId,
      prefix: options.prefix,
      commands: this.commands,
      subscriber: this.subscriber,
      presence: this.presence,
      liveNodes: () => this.view.live,
      publishTo: (node, payload) => this.publishTo(node, payload),
      counts: this.stats.publishes,
      warn: (message) => options.log.warn(message),
    })
    this.channel = `${options.prefix}relay:${this.nodeId}`
    this.broadcastChannel = `${options.prefix}broadcast`
    watchLink(this.commands, 'commands', options.log, () => this.relay.reconnects++)
    watchLink(this.subscriber, 'subscriber', options.log)
    this.subscriber.on('messageBuffer', (_channel: Buffer, payload: Buffer) => this.onRelay(payload))
    // ioredis re-subscribes by itself once reconnected, but says nothing when that is
    // done: subscribing again (idempotent) is how the node learns it hears relays again.
    this.subscriber.on('close', () => {
      this.relaySubscribed = false
      this.subscriberConnection++
    })
    this.subscriber.on('ready', () => {
      void this.subscribeRelay().catch(() => {})
      // Every revocation in force, at the first connection (start() waits for it) and
      // again after each reconnect: those published while the subscriber was away were missed.
      this.revocationsLoaded = this.sessions.load()
    })
    hub.on('connect', this.onPresenceChange)
    hub.on('disconnect', this.onPresenceChange)
  }

  /** Resolves once the presence changes made so far are written to Redis (or failed). */
  async presenceSettled(): Promise<void> {
    await this.presenceWrites.settled()
  }

  /** Resolves once the topic counts changed so far are written to Redis (or failed). */
  topicsSettled(): Promise<void> {
    return this.topics.settled()
  }

  /** Resolves once this node listens to every topic it has subscribers to (or failed to). */
  topicsListening(): Promise<void> {
    return this.topics.listening()
  }

  /** Resolves once both connections are up and this node's channels are subscribed again. */
  async whenRedisReady(): Promise<void> {
    const ready = (client: Redis) =>
      client.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => client.once('ready', () => resolve()))
    await Promise.all([ready(this.commands), ready(this.subscriber)])
    // ioredis re-subscribes after 'ready'; subscribing again (idempotent) waits for it.
    await this.subscribeRelay()
  }

  /** The command connection, for the Redis message store to share. */
  get redis(): Redis {
    return this.commands
  }

  /** True while the command connection is up. */
  get redisUp(): boolean {
    return this.commands.status === 'ready'
  }

  /** True while relays from other nodes reach this node (see ClusterBus.subscriberUp). */
  get subscriberUp(): boolean {
    return this.subscriber.status === 'ready' && this.relaySubscribed && this.relayListed
  }

  /** Subscribes and takes a first lease; resolves even if Redis is away (the node then heals later). */
  async start(): Promise<void> {
    const interval = Math.max(100, Math.floor(this.options.leaseTtlMs / 5))
    this.leaseTimer = setInterval(() => void this.renewLease(), interval)
    this.leaseTimer.unref()
    try {
      await this.subscribeRelay()
      // The subscriber got through, so Redis is there: give the command connection (which
      // fails fast, with no offline queue) a moment to be too, so that the node starts
      // with its lease taken and its presence written rather than a second later.
      if (!this.redisUp) await Promise.race([once(this.commands, 'ready'), sleep(2000, undefined, { ref: false })])
      await this.renewLease()
      // The subscriber can be ready before the command connection: a read made then failed,
      // and the node would start without the revocations in force. Read them again now.
      if (!(await this.revocationsLoaded)) await (this.revocationsLoaded = this.sessions.load())
    } catch (error) {
      this.options.log.warn(`Redis is not reachable yet (${(error as Error).message}); serving local connections until it is`)
    }
  }

  async deliver(uid: string, message: string, meta?: MessageMeta): Promise<Delivery> {
    const local = this.hub.send(uid, message, meta)
    let targets: RelayTarget[]
    try {
      // One command: presence read and the publishes to the other nodes, in a script.
      targets = await this.presence.relay(uid, encodeUnicast([{ uid, message, meta }]))
    } catch (error) {
      return this.withoutRedis(local, uid, error)
    }
    let delivered = local
    let nodes = local > 0 ? 1 : 0
    // A node that has died (its lease not yet expired) has no subscriber left, so its
    // publish reports 0 and nothing is claimed for it.
    for (const { connections, received } of targets) {
      if (!received) continue
      delivered += connections
      nodes++
    }
    this.relay.relayedOut += targets.length
    this.count(delivered)
    return { delivered, nodes }
  }

  async deliverBatch(messages: OutgoingMessage[]): Promise<BatchDelivery> {
    const results = messages.map(({ uid, message, meta }) => ({ uid, delivered: this.hub.send(uid, message, meta) }))
    let partial = false
    try {
      const uids = [...new Set(messages.map((m) => m.uid))]
      const holders = new Map((await this.presence.holdersOfMany(uids)).map((h, i) => [uids[i]!, h]))
      // One publish per node, carrying every message of the batch that node must deliver.
      const perNode = new Map<string, number[]>()
      messages.forEach(({ uid }, i) => {
        for (const node in holders.get(uid)) {
          if (node === this.nodeId) continue
          let indices = perNode.get(node)
          if (indices === undefined) perNode.set(node, (indices = []))
          indices.push(i)
        }
      })
      await Promise.all([...perNode].map(async ([node, indices]) => {
        if (!(await this.publishTo(node, encodeUnicast(indices.map((i) => messages[i]!))))) return
        for (const i of indices) results[i]!.delivered += Number(holders.get(messages[i]!.uid)![node])
      }))
    } catch {
      partial = true
    }
    if (partial && results.every((r) => r.delivered === 0)) {
      this.stats.messagesUnavailable += messages.length
      throw new PusherError.CLUSTER_UNAVAILABLE()
    }
    let delivered = 0
    let offline = 0
    for (const result of results) {
      delivered += result.delivered
      if (result.delivered === 0) offline++
      this.count(result.delivered)
    }
    return partial ? { delivered, offline, results, partial } : { delivered, offline, results }
  }

  async broadcast(message: string): Promise<Delivery> {
    // Redis first: a broadcast that reached only this node would have to be retried, and
    // the retry would reach this node's users twice.
    let receivers: number
    try {
      receivers = await this.commands.publish(this.broadcastChannel, encodeBroadcast(this.nodeId, message))
    } catch {
      this.stats.messagesUnavailable++
      throw new PusherError.CLUSTER_UNAVAILABLE()
    }
    this.stats.broadcasts++
    this.relay.relayedOut++
    const local = this.hub.broadcast(message)
    // Other nodes' counts are their last lease reports: a broadcast is not acknowledged.
    const elsewhere = Math.max(0, this.view.connections - this.hub.connectionCount)
    return { delivered: local + elsewhere, nodes: Math.max(1, receivers) }
  }

  protected deliverTopic(topic: string, message: string): Promise<Delivery> {
    return this.topics.publish(topic, message)
  }

  deliverTopics(messages: TopicMessageOut[]): Promise<PublishBatchDelivery> {
    return this.topics.publishBatch(messages)
  }

  protected applyTopicChange(uid: string, subscribe: string[], unsubscribe: string[]): Promise<TopicChangeResult> {
    return this.topics.change(uid, subscribe, unsubscribe)
  }

  protected lookUpTopic(topic: string): Promise<TopicInfo> {
    return this.topics.info(topic)
  }

  cluster(): ClusterView {
    if (this.view.live.size === 0) return { nodes: 1, connections: this.hub.connectionCount, users: this.hub.userCount }
    return { nodes: this.view.live.size, connections: this.view.connections, users: this.view.users }
  }

  protected lookUp(uids: string[]): Promise<UserPresence[]> {
    return this.sessions.presenceOf(uids)
  }

  protected endSessions(uid: string, reconnect: boolean): Promise<Disconnection> {
    return this.sessions.disconnect(uid, reconnect)
  }

  protected async spreadRevocation(uid: string, revocation: Revocation): Promise<RevocationResult> {
    const { inForce, nodes } = await this.sessions.revoke(uid, revocation)
    this.relay.relayedOut++
    return this.revocationResult(uid, inForce, nodes)
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.leaseTimer)
    this.hub.off('connect', this.onPresenceChange).off('disconnect', this.onPresenceChange)
    if (this.redisUp) {
      // Leave at once, rather than when the lease runs out.
      await this.topics.reap(this.nodeId).catch(() => {})
      await this.presence.reap(this.nodeId).catch(() => {})
    }
    this.subscriber.disconnect()
    this.commands.disconnect()
  }

  private count(delivered: number): void {
    if (delivered > 0) this.stats.messagesDelivered++
    else this.stats.messagesOffline++
  }

  /** Redis failed mid-send: the local connections were served; without them there is nothing to report but 503. */
  private withoutRedis(local: number, uid: string, error: unknown): Delivery {
    if (local > 0) {
      this.stats.messagesDelivered++
      return { delivered: local, nodes: 1, partial: true }
    }
    this.stats.messagesUnavailable++
    this.options.log.warn(`send to ${uid} refused: Redis unreachable (${(error as Error).message})`)
    throw new PusherError.CLUSTER_UNAVAILABLE()
  }

  /** Publishes to one node's channel; true if that node's subscriber received it. */
  private async publishTo(node: string, payload: Buffer): Promise<boolean> {
    const received = await this.commands.publish(`${this.options.prefix}relay:${node}`, payload)
    this.relay.relayedOut++
    return received > 0
  }

  private async subscribeRelay(): Promise<void> {
    const connection = this.subscriberConnection
    await this.subscriber.subscribe(this.channel, this.broadcastChannel)
    if (connection === this.subscriberConnection) this.relaySubscribed = true
  }

  private onRelay(payload: Buffer): void {
    let relayed
    try {
      relayed = decodeRelay(payload)
    } catch (error) {
      this.options.log.warn(`ignored a malformed relay payload: ${(error as Error).message}`)
      return
    }
    this.relay.relayedIn++
    if (relayed.kind === 'broadcast') {
      if (relayed.origin !== this.nodeId) this.hub.broadcast(relayed.message)
      return
    }
    if (relayed.kind === 'kick') return this.sessions.onKick(relayed.uid, relayed.reconnect)
    if (relayed.kind === 'revoke') return this.sessions.onRevoke(relayed.origin, relayed.uid, { cutMs: relayed.cutMs, untilMs: relayed.untilMs })
    if (relayed.kind === 'publish') return this.topics.onPublish(relayed.origin, relayed.topic, relayed.message, relayed.meta)
    if (relayed.kind === 'topics') return this.topics.onChange(relayed.request)
    if (relayed.kind === 'answer') return this.topics.onAnswer(relayed.answer)
    for (const { uid, message, meta } of relayed.messages) this.hub.send(uid, message, meta)
  }

  private readonly onPresenceChange = (connection: Connection): void => this.presenceWrites.mark(connection.uid)

  /**
   * Renews the lease, refreshes the cluster view, rewrites presence when this node was
   * missing or an update failed, and reaps expired nodes. Runs every leaseTtl/5; tests
   * call it to act at once.
   */
  async renewLease(): Promise<void> {
    if (!this.redisUp || this.closed) return
    try {
      const view = await this.presence.lease(this.options.leaseTtlMs, this.hub)
      this.view = view
      await this.presenceWrites.renew(view.rejoined)
      if (view.rejoined) this.options.log.info(`joined the cluster as ${this.nodeId} with ${this.hub.userCount} users`)
      // ioredis re-subscribes by itself after a reconnect; should that ever not happen,
      // relays to this node would reach no one, so check, and subscribe again if needed.
      // Until a later renewal finds the subscriber listed, the node is not ready: after a
      // failover the subscriber may still be connected, and subscribed, to a server the
      // other nodes no longer publish to.
      const [, subscribers] = (await this.commands.pubsub('NUMSUB', this.channel)) as [string, number]
      this.relayListed = Number(subscribers) > 0
      if (!this.relayListed) await this.subscribeRelay()
      await this.topics.renew(view.rejoined)
      await this.sessions.prune()
      for (const node of view.expired) {
        await this.topics.reap(node)
        const users = await this.presence.reap(node)
        this.options.log.info(`node ${node} stopped renewing its lease: removed it and its ${users} users from presence`)
      }
    } catch (error) {
      this.presenceWrites.markStale()
      this.topics.markStale()
      this.options.log.warn(`lease renewal failed: ${(error as Error).message}`)
    }
  }
}
