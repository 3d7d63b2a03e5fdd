// Revoked tokens, by user: a cut per uid. A token of that user issued before the cut
// (its `iat`) is refused at connect, and open connections opened with such a token are
// closed (4004). A cut is kept until `until`: as long as a token issued before it could
// still be valid (PUSHER_REVOCATION_TTL_S after the cut). The bus keeps every node's
// list the same (lib/bus); this one is looked up on every handshake, so it is a Map.

export interface Revocation {
  /** Tokens issued before this time (ms since the epoch) are refused. */
  cutMs: number
  /** The cut is forgotten after this time (ms since the epoch). */
  untilMs: number
}

export class Revocations {
  private readonly cuts = new Map<string, Revocation>()

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.cuts.size
  }

  /**
   * True when credentials of `uid` issued at `issuedAtMs` are revoked. Credentials that
   * do not say when they were issued (0: a JWT without `iat`) fall under any cut.
   */
  isRevoked(uid: string, issuedAtMs: number): boolean {
    if (this.cuts.size === 0) return false
    const cut = this.cuts.get(uid)
    if (cut === undefined) return false
    if (cut.untilMs <= this.now()) {
      this.cuts.delete(uid)
      return false
    }
    return issuedAtMs < cut.cutMs
  }

  /** The cut in force for `uid`, if any. */
  get(uid: string): Revocation | undefined {
    const cut = this.cuts.get(uid)
    return cut !== undefined && cut.untilMs > this.now() ? cut : undefined
  }

  /**
   * Records a cut; a later cut wins over an earlier one (a revocation never un-revokes).
   * Returns the cut now in force.
   */
  add(uid: string, revocation: Revocation): Revocation {
    const current = this.get(uid)
    if (current === undefined) {
      this.cuts.set(uid, revocation)
      return revocation
    }
    const merged = { cutMs: Math.max(current.cutMs, revocation.cutMs), untilMs: Math.max(current.untilMs, revocation.untilMs) }
    this.cuts.set(uid, merged)
    return merged
  }

  /** Forgets the cuts that have run out; returns how many. */
  prune(): number {
    const now = this.now()
    let pruned = 0
    for (const [uid, cut] of this.cuts) {
      if (cut.untilMs > now) continue
      this.cuts.delete(uid)
      pruned++
    }
    return pruned
  }
}
