// The one rule for a topic name, wherever one enters: a token's `topics` claim, a
// framed client's subscribe, the backend's subscribe and publish, and the client
// library, which checks a name before it sends it. A name is 1 to maxLength characters
// (200 by default, PUSHER_MAX_TOPIC_LENGTH) of ASCII letters, digits and `_-.:@/`: room
// for "order:1234", "doc/42/cursor" or "user@example.com", nothing that needs escaping
// in a Redis channel, a URL path segment or a log line. The name itself grants nothing:
// who may subscribe is the token's or the hook's call.
//
// No imports, nothing Node-only: the client bundles this file for browsers.

/** The longest name any configuration accepts (PUSHER_MAX_TOPIC_LENGTH is at most this). */
export const MAX_TOPIC_LENGTH = 1024
export const DEFAULT_MAX_TOPIC_LENGTH = 200

const TOPIC_CHARACTERS = /^[A-Za-z0-9_\-.:@/]+$/

/** Undefined for a valid name; otherwise one sentence, beginning with "topic", saying what is wrong. */
export function topicProblem(topic: unknown, maxLength: number): string | undefined {
  if (typeof topic !== 'string') return 'topic must be a string'
  if (topic.length === 0) return 'topic must not be empty'
  if (topic.length > maxLength) return `topic must be at most ${maxLength} characters, not ${topic.length}`
  if (!TOPIC_CHARACTERS.test(topic)) return 'topic may hold only letters, digits and _-.:@/'
  return undefined
}
