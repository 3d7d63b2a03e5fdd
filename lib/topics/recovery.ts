// Whether a subscriber that resumes a topic after the seq `since` missed nothing: the
// first message the topic's history still keeps after `since` (`firstKept`; the topic's
// last seq plus one when it keeps none) comes right after `since`, or right at the
// topic's first message ever (`topicFirst`; 0 for a topic with none): no seq below that
// existed, so a client resuming from 0 that gets the topic's whole stream missed nothing.
// Shared by the hub (what it answers a subscribe with) and the store (its page's view).
export function recoveredFrom(since: number, firstKept: number, topicFirst: number): boolean {
  return firstKept <= Math.max(since, topicFirst - 1) + 1
}
