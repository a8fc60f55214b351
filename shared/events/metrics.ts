/**
 * Every event counter in one place, so the metrics endpoint (a later issue) exposes them
 * without touching the outbox or the relay. Plain numbers: cheap to bump on the hot path.
 */
export const LAG_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000] as const

export interface EventMetrics {
  /** Events appended to the outbox by emit(). */
  emitted: number
  /** Messages handed to the broker (first attempts and retries). */
  published: number
  /** Messages the broker confirmed (then acked and deleted from the outbox). */
  confirmed: number
  /** Messages published again: reclaimed from a dead relay or after a lost channel. */
  retried: number
  /** Broker nacks and channel losses, per batch. */
  failedBatches: number
  /** Outbox entries that could not be parsed and were dropped (never written by emit()). */
  malformed: number
  /** XLEN of the outbox at the last look (gauge). */
  outboxDepth: number
  /** emit → confirm of the most recent confirmed message, ms (gauge). */
  relayLagMs: number
  /** Cumulative histogram of emit → confirm lag; counts[i] ≤ LAG_BUCKETS_MS[i], last = +Inf. */
  lag: { counts: number[]; sumMs: number; count: number }
}

export function createEventMetrics(): EventMetrics {
  return {
    emitted: 0,
    published: 0,
    confirmed: 0,
    retried: 0,
    failedBatches: 0,
    malformed: 0,
    outboxDepth: 0,
    relayLagMs: 0,
    lag: { counts: new Array<number>(LAG_BUCKETS_MS.length + 1).fill(0), sumMs: 0, count: 0 },
  }
}

export function observeLag(m: EventMetrics, lagMs: number) {
  m.relayLagMs = lagMs
  m.lag.sumMs += lagMs
  m.lag.count++
  let i = LAG_BUCKETS_MS.findIndex((b) => lagMs <= b)
  if (i < 0) i = LAG_BUCKETS_MS.length
  m.lag.counts[i]!++
}

/** The process-wide counters (one orchestrator per process in production). */
export const eventMetrics: EventMetrics = createEventMetrics()
