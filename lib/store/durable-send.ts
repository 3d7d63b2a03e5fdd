// Durable sends, for every bus: a message sent with a time to live is stored first (the
// answer waits for the commit), then delivered like any other. The answer says whether
// a connection took it now ('delivered') or it waits for the user's next connect
// ('queued'). Whatever happens after the commit (Redis away for the relay, say), the
// message stays stored: a durable send that was answered never gets lost.
import type { BatchDelivery, Delivery, OutgoingMessage } from '../bus/bus.js'
import { PusherError } from '../errors.js'
import type { MessageStore } from './store.js'
import type { MessageMeta } from '../hub/envelope.js'

/** What a bus needs to send durably: the store, its default time to live, where to warn. */
export interface DurableSettings {
  store: MessageStore
  defaultTtlMs: number
  warn: (message: string) => void
}

/** A durable message's answer: where it went, and its id and seq in the user's stream. */
export interface DurableDelivery extends Delivery {
  id: string
  seq: number
  status: 'delivered' | 'queued'
}

/** A batch item's answer; durable items also carry id, seq and status. */
export interface BatchItemResult {
  uid: string
  delivered: number
  id?: string
  seq?: number
  status?: 'delivered' | 'queued'
}

/** What delivering (without storing) looks like: a bus engine's own send paths. */
export interface Deliverer {
  deliver(uid: string, message: string, meta?: OutgoingMessage['meta']): Delivery | Promise<Delivery>
  deliverBatch(messages: OutgoingMessage[]): BatchDelivery | Promise<BatchDelivery>
}

/** A store operation whose failure (Redis away, a full disk) is the sender's 503, with a reason. */
export function fromStore<T>(operation: () => Promise<T>): Promise<T> {
  return operation().catch((error: Error) => {
    if (error instanceof PusherError.INVALID_UID) throw error
    throw new PusherError.STORE_UNAVAILABLE(error.message)
  })
}

/**
 * Stores, with one `append`, the messages that have a time to live (`ttls[i]` in ms,
 * undefined for one that is only delivered), and gives each stored one its meta: the
 * batch is then ready to deliver, in order. `indices` lists the stored ones.
 */
export async function storeFirst<T extends { message: string; meta?: MessageMeta }>(
  messages: T[],
  ttls: ReadonlyArray<number | undefined>,
  append: (kept: Array<{ item: T; ttlMs: number }>) => Promise<Array<{ id: string; seq: number; createdAt: number }>>,
): Promise<{ messages: T[]; indices: number[] }> {
  const indices = ttls.flatMap((ttlMs, i) => (ttlMs === undefined ? [] : [i]))
  const stored = await fromStore(() => append(indices.map((i) => ({ item: messages[i]!, ttlMs: ttls[i]! }))))
  indices.forEach((i, k) => {
    const { id, seq, createdAt } = stored[k]!
    messages[i]!.meta = { id, seq, time: createdAt }
  })
  return { messages, indices }
}

export async function sendDurable(bus: Deliverer, durable: DurableSettings, uid: string, message: string, ttlMs: number): Promise<DurableDelivery> {
  const { store, warn } = durable
  const [stored] = await fromStore(() => store.append([{ uid, data: message, ttlMs }]))
  const { id, seq, createdAt } = stored!
  let delivery: Delivery = { delivered: 0, nodes: 0 }
  try {
    delivery = await bus.deliver(uid, message, { id, seq, time: createdAt })
  } catch (error) {
    warn(`durable message ${id} stays queued: ${(error as Error).message}`)
  }
  if (delivery.delivered === 0) return { ...delivery, id, seq, status: 'queued' }
  store.markDelivered([id]).catch((error: Error) => warn(`marking ${id} delivered failed: ${error.message}`))
  return { ...delivery, id, seq, status: 'delivered' }
}

/**
 * A batch with durable messages (`ttls[i]` in ms, undefined for a plain one): those are
 * stored first, all in one append, then the whole batch is delivered as usual. If the
 * cluster cannot be reached the durable messages stay queued and the answer is partial
 * rather than an error, since they must not be sent again.
 */
export async function sendBatchDurable(
  bus: Deliverer,
  durable: DurableSettings,
  items: ReadonlyArray<{ uid: string; message: string }>,
  ttls: ReadonlyArray<number | undefined>,
): Promise<BatchDelivery & { results: BatchItemResult[] }> {
  const { store, warn } = durable
  const { messages, indices } = await storeFirst(
    items.map(({ uid, message }): OutgoingMessage => ({ uid, message })),
    ttls,
    (kept) => store.append(kept.map(({ item, ttlMs }) => ({ uid: item.uid, data: item.message, ttlMs }))),
  )
  let batch: BatchDelivery
  try {
    batch = await bus.deliverBatch(messages)
  } catch (error) {
    warn(`batch with ${indices.length} durable messages left queued: ${(error as Error).message}`)
    batch = { delivered: 0, offline: messages.length, results: messages.map(({ uid }) => ({ uid, delivered: 0 })), partial: true }
  }
  const results: BatchItemResult[] = batch.results
  const taken: string[] = []
  for (const i of indices) {
    const { id, seq } = messages[i]!.meta!
    const delivered = results[i]!.delivered > 0
    if (delivered) taken.push(id)
    results[i] = { ...results[i]!, id, seq, status: delivered ? 'delivered' : 'queued' }
  }
  if (taken.length > 0) store.markDelivered(taken).catch((error: Error) => warn(`marking a batch delivered failed: ${error.message}`))
  return { ...batch, results }
}
