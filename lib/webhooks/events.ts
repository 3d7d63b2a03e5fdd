// What the hub tells the backend: one JSON object per event, POSTed to the webhook URL.
// `id` is unique per event (delivery is at least once: a receiver drops ids it has
// seen); `time` is when it happened, in ms since the epoch, not when it was sent.
import { randomUUID } from 'node:crypto'

export const WEBHOOK_EVENT_TYPES = ['user.online', 'user.offline', 'message.expired', 'message.unacked'] as const

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number]

/** A durable message as the message.* events describe it (never its content). */
export interface WebhookMessageData {
  messageId: string
  seq: number
  createdAt: number
  expiresAt: number
  /** When it was first written to a connection; absent if it never reached one. */
  deliveredAt?: number
  /** message.expired only: its time to live ran out, or the user's queue was full. */
  reason?: 'ttl' | 'queue_limit'
}

export interface WebhookEvent {
  id: string
  type: WebhookEventType
  uid: string
  /** When it happened, in ms since the epoch. */
  time: number
  data?: WebhookMessageData
}

export function newWebhookEvent(type: WebhookEventType, uid: string, time: number, data?: WebhookMessageData): WebhookEvent {
  return data === undefined ? { id: randomUUID(), type, uid, time } : { id: randomUUID(), type, uid, time, data }
}

/** One counter per event type, all at 0: every metric series exists from the start. */
export function countsByType(): Record<WebhookEventType, number> {
  return { 'user.online': 0, 'user.offline': 0, 'message.expired': 0, 'message.unacked': 0 }
}
