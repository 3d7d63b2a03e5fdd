// The single-process bus: every connection is in this process's hub, so a send is a
// hub write and nothing else. No Redis code is loaded on this path.
import { type BatchDelivery, type Bus, type ClusterView, type Delivery, type Disconnection, newBusStats, type OutgoingMessage, type PublishBatchDelivery, type RevocationResult, type TopicChangeResult, type TopicInfo, type UserPresence } from './bus.js'
import { BusBase, type BusOptions } from './base.js'
import type { Revocation } from '../auth/revocations.js'
import type { TopicMessageOut } from '../store/durable-publish.js'
import type { MessageMeta } from '../hub/envelope.js'
import type { Hub } from '../hub/hub.js'

export class MemoryBus extends BusBase implements Bus {
  readonly clustered = false
  readonly stats = newBusStats()

  constructor(private readonly hub: Hub, options?: BusOptions) {
    super(options)
  }

  deliver(uid: string, message: string, meta?: MessageMeta): Delivery {
    const delivered = this.hub.send(uid, message, meta)
    if (delivered > 0) this.stats.messagesDelivered++
    else this.stats.messagesOffline++
    return { delivered, nodes: delivered > 0 ? 1 : 0 }
  }

  deliverBatch(messages: OutgoingMessage[]): BatchDelivery {
    let delivered = 0
    let offline = 0
    const results = messages.map(({ uid, message, meta }) => {
      const count = this.deliver(uid, message, meta).delivered
      delivered += count
      if (count === 0) offline++
      return { uid, delivered: count }
    })
    return { delivered, offline, results }
  }

  broadcast(message: string): Delivery {
    this.stats.broadcasts++
    return { delivered: this.hub.broadcast(message), nodes: 1 }
  }

  protected deliverTopic(topic: string, message: string): Delivery {
    return this.published(this.hub.publish(topic, message))
  }

  /** A publish this hub wrote to `delivered` subscribers, counted. */
  private published(delivered: number): Delivery {
    return this.countPublish({ delivered, nodes: delivered > 0 ? 1 : 0 })
  }

  deliverTopics(messages: TopicMessageOut[]): PublishBatchDelivery {
    let delivered = 0
    const results = messages.map(({ topic, message, meta }) => {
      const one = this.published(this.hub.publish(topic, message, meta))
      delivered += one.delivered
      return { topic, delivered: one.delivered, nodes: one.nodes }
    })
    return { delivered, results }
  }

  protected applyTopicChange(uid: string, subscribe: string[], unsubscribe: string[]): TopicChangeResult {
    const change = this.hub.changeTopics(uid, subscribe, unsubscribe)
    return { uid, ...change, nodes: change.connections > 0 ? 1 : 0 }
  }

  protected lookUpTopic(topic: string): TopicInfo {
    const { subscribers, users } = this.hub.topicSubscribers(topic)
    return { topic, subscribers, users, nodes: subscribers > 0 ? 1 : 0 }
  }

  cluster(): ClusterView {
    return { nodes: 1, connections: this.hub.connectionCount, users: this.hub.userCount }
  }

  protected lookUp(uids: string[]): UserPresence[] {
    return uids.map((uid) => {
      const connections = this.hub.connectionsOf(uid)
      return { uid, online: connections > 0, connections, nodes: connections > 0 ? 1 : 0 }
    })
  }

  protected endSessions(uid: string, reconnect: boolean): Disconnection {
    const disconnected = this.hub.disconnect(uid, { reconnect })
    return { disconnected, nodes: disconnected > 0 ? 1 : 0 }
  }

  protected spreadRevocation(uid: string, revocation: Revocation): RevocationResult {
    this.hub.revoke(uid, revocation.cutMs)
    return this.revocationResult(uid, revocation, 1)
  }

  async close(): Promise<void> {}
}
