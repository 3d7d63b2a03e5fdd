// Topic names on the server: the rule itself (name-rule.ts, shared with the client
// library) and the check that turns a broken one into a 400.
import { PusherError } from '../errors.js'
import { topicProblem } from './name-rule.js'

export { DEFAULT_MAX_TOPIC_LENGTH, MAX_TOPIC_LENGTH, topicProblem } from './name-rule.js'

/** Throws PusherError.INVALID_TOPIC (400), naming the field, unless every name is valid: a list is refused whole. */
export function assertTopics(topics: readonly unknown[], maxLength: number, field = 'topic'): void {
  for (let i = 0; i < topics.length; i++) {
    const problem = topicProblem(topics[i], maxLength)
    if (problem !== undefined) throw new PusherError.INVALID_TOPIC(topics.length === 1 && field === 'topic' ? problem : `${field}[${i}]: ${problem}`)
  }
}
