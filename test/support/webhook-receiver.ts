// A backend receiving the hub's webhooks: a node:http server on 127.0.0.1, which checks
// every request with the package's own verifyWebhook, as docs/webhooks.md tells receivers
// to, and keeps the events in the order they arrived (a redelivery too).
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { verifyWebhook, type WebhookEvent } from '../../app.js'

export const WEBHOOK_SECRET = 'a-webhook-secret-that-is-long-enough-0123'

export interface ReceivedRequest {
  headers: IncomingHttpHeaders
  body: string
  verified: boolean
}

export class WebhookReceiver {
  /** Verified events, in arrival order, duplicates included. */
  readonly events: WebhookEvent[] = []
  readonly requests: ReceivedRequest[] = []
  /** Statuses for the next requests, one each; then 204. */
  answers: number[] = []
  private waiters: Array<() => void> = []

  private constructor(private readonly server: Server, readonly url: string, private readonly secret: string) {
    server.on('request', (request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString()
        const verified = verifyWebhook({ body, headers: request.headers, secret: this.secret })
        this.requests.push({ headers: request.headers, body, verified })
        const status = this.answers.shift() ?? (verified ? 204 : 401)
        if (verified && status >= 200 && status < 300) this.events.push(JSON.parse(body) as WebhookEvent)
        response.writeHead(status).end()
        for (const wake of this.waiters.splice(0)) wake()
      })
    })
  }

  /** Listens on `port` (0: one the OS picks). */
  static async start(port = 0, secret = WEBHOOK_SECRET): Promise<WebhookReceiver> {
    const server = createServer().listen(port, '127.0.0.1')
    await once(server, 'listening')
    const bound = (server.address() as { port: number }).port
    return new WebhookReceiver(server, `http://127.0.0.1:${bound}/hooks`, secret)
  }

  /** The events of `type` (for `uid`) received so far. */
  of(type: WebhookEvent['type'], uid?: string): WebhookEvent[] {
    return this.events.filter((event) => event.type === type && (uid === undefined || event.uid === uid))
  }

  /** Resolves with the first event of `type` (for `uid`) once it has arrived; fails the test after `timeoutMs`. */
  async next(type: WebhookEvent['type'], uid?: string, timeoutMs = 15_000): Promise<WebhookEvent> {
    await this.until(() => this.of(type, uid).length > 0, `${type} for ${uid ?? 'anyone'}`, timeoutMs)
    return this.of(type, uid)[0]!
  }

  /** Resolves once `condition` holds, checked at each request that arrives; fails the test after `timeoutMs`. */
  async until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.events)}`)
      await this.request(deadline - Date.now())
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise((resolve) => this.server.close(resolve))
  }

  /** The next request, or the deadline. */
  private request(withinMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, withinMs))
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
}
