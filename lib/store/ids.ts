// Ids of stored messages, for every engine and for users' and topics' messages alike:
// a random prefix per process, then a counter. Unique across the nodes of a cluster
// (the prefixes differ) without a round trip, and short, since every envelope carries one.
import { randomBytes } from 'node:crypto'

export class MessageIds {
  private readonly prefix = randomBytes(6).toString('base64url')
  private counter = 0

  next(): string {
    return `${this.prefix}${(this.counter++).toString(36)}`
  }
}
