/**
 * ClientTally counts the client requests a router answered on its key-value API, and
 * those that failed on the router's side (HTTP status 5xx: quorum not reached, not
 * serving, clock out of bounds, internal). A 404 (key absent) and other 4xx answers are
 * the client's business and not failures of the cluster. The totals only grow, so a
 * reader computes rates from two samples and a restarted router shows up as totals that
 * went down (a reader treats that as a new series).
 */
export class ClientTally {
  private requests = 0
  private errors = 0

  /** record counts one answered client request with its HTTP status. */
  record(status: number): void {
    this.requests++
    if (status >= 500) this.errors++
  }

  /** totals returns the counts since the router started. */
  totals(): {requests: number; errors: number} {
    return {requests: this.requests, errors: this.errors}
  }
}
