// A framed client's in-band token refresh (`{"type":"refresh","token":...}`): the token
// is checked by the verifier the auth plugin gives the hub, and if it proves the
// connection's own user, the connection lives until the new token's expiry instead of
// the old one's (renew). Anything else closes it with 4005 (refuse). While an
// asynchronous check runs, further refreshes of that connection are ignored, so that an
// older token's answer can never land after a newer one's.
import type { Connection } from './connection.js'
import type { RefreshedCredentials, RefreshVerifier } from './hub-types.js'

export interface TokenRefreshOwner {
  /** The verifier in force; undefined: refresh is not supported, and is refused. */
  verifier(): RefreshVerifier | undefined
  /** Counted here, read by the metrics. */
  counts: { ok: number; refused: number }
  /** Puts verified credentials in force: the connection's new expiry, and the client told. */
  renew(connection: Connection, credentials: RefreshedCredentials): void
  /** Closes the connection with 4005 and `reason`. */
  refuse(connection: Connection, reason: string): void
}

export class TokenRefresh {
  /** Connections whose refresh token an asynchronous verifier is still checking. */
  private readonly checking = new WeakSet<Connection>()

  constructor(private readonly owner: TokenRefreshOwner) {}

  take(connection: Connection, token: string): void {
    if (this.checking.has(connection)) return
    const verify = this.owner.verifier()
    if (verify === undefined) return this.refuse(connection, 'token refresh is not supported by this hub: fetch a fresh token and reconnect')
    let verified: RefreshedCredentials | Promise<RefreshedCredentials>
    try {
      verified = verify(token)
    } catch (error) {
      return this.refuse(connection, refusalReason(error))
    }
    if (!(verified instanceof Promise)) return this.apply(connection, verified)
    this.checking.add(connection)
    verified.then((credentials) => {
      this.checking.delete(connection)
      this.apply(connection, credentials)
    }, (error: unknown) => {
      this.checking.delete(connection)
      this.refuse(connection, refusalReason(error))
    })
  }

  private apply(connection: Connection, credentials: RefreshedCredentials): void {
    // Closed, or being closed, while an asynchronous check ran: nothing left to refresh.
    if (connection.endReason !== undefined || connection.ended) return
    if (credentials.uid !== connection.uid) {
      return this.refuse(connection, 'token refresh refused (another user): fetch a fresh token for this user and reconnect')
    }
    this.owner.counts.ok++
    this.owner.renew(connection, credentials)
  }

  private refuse(connection: Connection, reason: string): void {
    if (connection.endReason !== undefined || connection.ended) return
    this.owner.counts.refused++
    this.owner.refuse(connection, reason)
  }
}

/**
 * The close reason for a refresh token the verifier refused: its error's `reason` label
 * (the auth plugin's: `expired`, `bad_signature`, ...) when it has a short one. Never
 * the error's message, which could be long (close reasons hold 123 bytes) or say more
 * than the client should hear.
 */
function refusalReason(error: unknown): string {
  const label = (error as { reason?: unknown } | null)?.reason
  const why = typeof label === 'string' && /^[a-z_]{1,24}$/.test(label) ? label : 'rejected'
  return `token refresh refused (${why}): fetch a fresh token and reconnect`
}
