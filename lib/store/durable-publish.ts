// Durable publishes, for every bus: a message published to a topic with a time to live
// is appended to the topic's history first (the answer waits for the commit), then
// published like any other, carrying its seq. Framed subscribers that were away get it
// when they resubscribe with `since`; those that see it out of order get the gap filled
// (lib/hub/topic-streams.ts). Whatever happens after the commit, the message stays in
// the history until its time to live or the history's size ends it.
import type { Delivery, PublishBatchDelivery } from '../bus/bus.js'
import type { MessageMeta } from '../hub/envelope.js'
import { type DurableSettings, storeFirst } from './durable-send.js'

/** A topic message to deliver (without storing): `meta` marks one kept in the topic's history. */
export interface TopicMessageOut {
  topic: string
  message: string
  meta?: MessageMeta
}

/** What delivering a publish looks like: a bus engine's own paths. */
export interface TopicDeliverer {
  deliverTopics(messages: TopicMessageOut[]): PublishBatchDelivery | Promise<PublishBatchDelivery>
}

/** A durable publish's answer: where it went, and its id and seq in the topic's stream. */
export interface DurablePublish extends Delivery {
  id: string
  seq: number
}

/** A publish batch's item: durable ones also carry id and seq. */
export interface PublishItemResult {
  topic: string
  delivered: number
  nodes: number
  id?: string
  seq?: number
}

/**
 * Publishes a batch whose messages with a time to live (`ttls[i]` in ms, undefined for a
 * plain one) are appended first, all in one append. If the cluster cannot be reached
 * once they are stored, the answer is partial rather than an error: they are kept, and
 * a retry would store them twice.
 */
export async function publishBatchDurable(
  bus: TopicDeliverer,
  durable: DurableSettings,
  items: ReadonlyArray<{ topic: string; message: string }>,
  ttls: ReadonlyArray<number | undefined>,
): Promise<PublishBatchDelivery & { results: PublishItemResult[] }> {
  const { store, warn } = durable
  const { messages, indices } = await storeFirst(
    items.map(({ topic, message }): TopicMessageOut => ({ topic, message })),
    ttls,
    (kept) => store.topics.append(kept.map(({ item, ttlMs }) => ({ topic: item.topic, data: item.message, ttlMs }))),
  )
  let batch: PublishBatchDelivery
  try {
    batch = await bus.deliverTopics(messages)
  } catch (error) {
    warn(`a publish with ${indices.length} stored messages reached no subscriber: ${(error as Error).message}`)
    batch = { delivered: 0, results: messages.map(({ topic }) => ({ topic, delivered: 0, nodes: 0 })), partial: true }
  }
  const results: PublishItemResult[] = batch.results
  for (const i of indices) {
    const { id, seq } = messages[i]!.meta!
    results[i] = { ...results[i]!, id, seq }
  }
  return { ...batch, results }
}

/** One durable publish: a batch of one, answered as a single publish. */
export async function publishDurable(bus: TopicDeliverer, durable: DurableSettings, topic: string, message: string, ttlMs: number): Promise<DurablePublish> {
  const batch = await publishBatchDurable(bus, durable, [{ topic, message }], [ttlMs])
  const { delivered, nodes, id, seq } = batch.results[0]!
  return { delivered, nodes, id: id!, seq: seq!, ...(batch.partial ? { partial: true as const } : {}) }
}
