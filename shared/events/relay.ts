import type { Logger } from '../log.ts'
import type { Keys } from '../store/keys.ts'
import { asArray } from '../store/ops.ts'
import type { Broker } from './broker.ts'
import { eventMetrics, observeLag, type EventMetrics } from './metrics.ts'
import { onAppended } from './outbox.ts'
import { pruneRelayConsumers } from './relay-consumers.ts'
import { transportFor, type OutboxMessage, type PublishSession, type RelayTransport } from './relay-transport.ts'
import type { Command, Reply, Store } from '../store/types.ts'
import type { ExchangeNames } from './topology.ts'
import { errorMessage } from '../errors.ts'

/**
 * The outbox relay: reads `orchestrator:outbox` through a consumer group, publishes on a
 * confirm channel, and XACK+XDELs an entry only after the broker confirmed it. Whatever a
 * relay read but could not get confirmed stays in the group's pending list: this relay
 * republishes its own after a reconnect, and any relay reclaims (XAUTOCLAIM) entries a dead
 * one left idle for `claimIdleMs`. So events are delivered at least once; consumers dedupe
 * by eventId. It runs beside the HTTP server, never inside a request.
 */
export interface RelayOptions {
  /** Default: the broker's transport (RabbitMQ confirm channel, or the in-process bus). */
  transport?: RelayTransport
  broker?: Broker
  exchanges?: ExchangeNames
  group?: string
  /** Unique per relay; a restarted process gets a new one and reclaims the old one's entries. */
  consumer?: string
  batchSize?: number
  /** Batches published but not yet confirmed (pipelining). */
  maxInFlight?: number
  /** Poll interval when idle; an emit() in this process wakes the relay at once. */
  idlePollMs?: number
  /** Pending entries idle this long belong to a dead relay and are reclaimed. */
  claimIdleMs?: number
  claimEveryMs?: number
  /** Consumers of relays gone this long (nothing pending) are removed from the group. Default 10 min. */
  pruneIdleMs?: number
  confirmTimeoutMs?: number
  retryBaseMs?: number
  retryMaxMs?: number
  metrics?: EventMetrics
  /** Observability hooks (benchmarks, tests). */
  onPublished?: (batch: readonly OutboxMessage[]) => void
  onConfirmed?: (batch: readonly OutboxMessage[], confirmedAt: number) => void
}

export interface RelayDeps {
  store: Store
  keys: Keys
  log: Logger
  broker: Broker
}

export interface RelayStats {
  published: number
  confirmed: number
  retried: number
  failedBatches: number
  malformed: number
}

export const RELAY_GROUP = 'outbox-relay'

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })

type Parsed = { id: string; message: OutboxMessage } | { id: string; message: null; malformed: boolean }

/** [id, [field, value, ...]] → message; message null for an entry deleted under us or not written by emit(). */
function parseEntry(raw: Reply): Parsed | null {
  const [id, flat] = asArray(raw)
  if (typeof id !== 'string') return null
  if (!Array.isArray(flat)) return { id, message: null, malformed: false }
  const f: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) f[String(flat[i])] = String(flat[i + 1])
  if (!f.exchange || f.routingKey === undefined || !f.eventId || !f.payload) return { id, message: null, malformed: true }
  return { id, message: { id, kind: f.kind ?? 'lifecycle', exchange: f.exchange, routingKey: f.routingKey, eventId: f.eventId, emittedAt: Number(f.emittedAt) || 0, payload: f.payload } }
}

/** The relay's state machine, one `step()` at a time; startRelay loops it, drainOutbox runs it until idle. */
function createRelayCore(deps: RelayDeps, opts: RelayOptions) {
  const { store, keys, log } = deps
  const key = keys.outbox
  const group = opts.group ?? RELAY_GROUP
  const consumer = opts.consumer ?? `relay-${crypto.randomUUID().slice(0, 8)}`
  const batchSize = opts.batchSize ?? 500
  const maxInFlight = opts.maxInFlight ?? 4
  const claimIdleMs = opts.claimIdleMs ?? 30_000
  const claimEveryMs = opts.claimEveryMs ?? Math.min(5_000, claimIdleMs / 2)
  const pruneIdleMs = Math.max(opts.pruneIdleMs ?? 600_000, claimIdleMs)
  const metrics = opts.metrics ?? eventMetrics
  const transport = opts.transport ?? transportFor(opts.broker ?? deps.broker, { exchanges: opts.exchanges, confirmTimeoutMs: opts.confirmTimeoutMs, log })
  if (!transport) throw new Error('no event transport: set ORCHESTRATOR_RABBITMQ_CONNECTION (or run embedded, without Redis)')

  const stats: RelayStats = { published: 0, confirmed: 0, retried: 0, failedBatches: 0, malformed: 0 }
  const count = (field: keyof RelayStats, n: number) => {
    stats[field] += n
    metrics[field] += n
  }
  /** The open session and the first failure seen on it (a nack, a lost channel, a timeout). */
  let current: { session: PublishSession; failure?: unknown } | undefined
  let groupReady = false
  let ownPendingCursor: string | undefined = '0'
  let claimCursor = '0-0'
  let lastClaimAt = -Infinity
  let lastDepthAt = -Infinity
  const inflight = new Set<Promise<void>>()

  const ensureGroup = async () => {
    if (groupReady) return
    try {
      // From id 0: entries emitted before any relay ever ran are delivered too.
      await store.call(['XGROUP', 'CREATE', key, group, '0', 'MKSTREAM'])
    } catch (e) {
      if (!errorMessage(e).startsWith('BUSYGROUP')) throw e
    }
    groupReady = true
  }
  const guardGroup = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (e) {
      // The stream key was deleted (and its group with it): recreate on the next step.
      if (errorMessage(e).startsWith('NOGROUP')) groupReady = false
      throw e
    }
  }

  const read = (from: string) =>
    guardGroup(async () => {
      const reply = await store.call(['XREADGROUP', 'GROUP', group, consumer, 'COUNT', batchSize, 'STREAMS', key, from])
      const streams = asArray(reply)
      return asArray(asArray(streams[0] ?? null)[1] ?? null)
    })
  const claim = () =>
    guardGroup(async () => {
      const [cursor, entries] = asArray(await store.call(['XAUTOCLAIM', key, group, consumer, claimIdleMs, claimCursor, 'COUNT', batchSize]))
      claimCursor = typeof cursor === 'string' ? cursor : '0-0'
      return asArray(entries ?? null)
    })

  const ackAndDelete = (ids: string[]) =>
    store.transaction([
      ['XACK', key, group, ...ids] as Command,
      ['XDEL', key, ...ids] as Command,
    ])

  const settle = async () => {
    while (inflight.size) await Promise.allSettled([...inflight])
  }
  /** Drops a failed session after its in-flight batches settled; unconfirmed entries stay pending. */
  const reset = async (cur: NonNullable<typeof current>) => {
    await settle()
    cur.session.close()
    if (current === cur) current = undefined
  }

  const dispatch = async (raw: Reply[], retry: boolean) => {
    const parsed = raw.map(parseEntry).filter((e) => e !== null)
    const unsendable = parsed.filter((e) => e.message === null)
    if (unsendable.length) {
      const malformed = unsendable.filter((e) => e.malformed).length
      if (malformed) {
        count('malformed', malformed)
        log.error('dropping outbox entries that emit() did not write', { count: malformed })
      }
      await ackAndDelete(unsendable.map((e) => e.id))
    }
    const batch = parsed.flatMap((e) => (e.message ? [e.message] : []))
    if (!batch.length) return
    const cur = current!
    const { written, confirmed } = cur.session.publishBatch(batch)
    try {
      await written
    } catch (e) {
      await reset(cur)
      throw e
    }
    if (retry) count('retried', batch.length)
    count('published', batch.length)
    opts.onPublished?.(batch)
    const done = confirmed.then(
      async () => {
        const at = Date.now()
        await ackAndDelete(batch.map((m) => m.id)).catch((e) =>
          // Confirmed but still pending: republished later (a duplicate, never a loss).
          log.warn('relay could not ack confirmed outbox entries; they will be republished', { error: errorMessage(e) }),
        )
        count('confirmed', batch.length)
        for (const m of batch) observeLag(metrics, at - m.emittedAt)
        opts.onConfirmed?.(batch, at)
      },
      (e: unknown) => {
        count('failedBatches', 1)
        cur.failure ??= e
      },
    )
    inflight.add(done)
    void done.finally(() => inflight.delete(done))
    while (inflight.size >= maxInFlight) await Promise.race(inflight)
  }

  /** One unit of work; returns how many entries it dispatched (0 = nothing to do). */
  const step = async (): Promise<number> => {
    if (current?.failure !== undefined) {
      const e = current.failure
      await reset(current)
      throw e
    }
    if (!current?.session.isOpen()) {
      await settle()
      current = { session: await transport.open() }
      // Whatever this relay read but never got confirmed is sent again first.
      ownPendingCursor = '0'
    }
    await ensureGroup()
    const now = Date.now()
    if (now - lastDepthAt >= 1000) {
      lastDepthAt = now
      metrics.outboxDepth = Number(await store.call(['XLEN', key])) || 0
    }
    if (ownPendingCursor !== undefined) {
      const own = await read(ownPendingCursor)
      if (own.length) {
        ownPendingCursor = String(asArray(own[own.length - 1]!)[0])
        await dispatch(own, true)
        return own.length
      }
      ownPendingCursor = undefined
    }
    if (now - lastClaimAt >= claimEveryMs) {
      const claimed = await claim()
      if (claimCursor === '0-0') {
        lastClaimAt = now
        // A full pass reclaimed what dead relays held, so they may now have nothing pending.
        const pruned = await guardGroup(() => pruneRelayConsumers(store, key, group, { self: consumer, idleMs: pruneIdleMs }))
        if (pruned.length) log.info('removed consumers of relays that are gone from the outbox group', { count: pruned.length })
      }
      if (claimed.length) {
        log.info('relay reclaimed outbox entries from a stalled relay', { count: claimed.length, consumer })
        await dispatch(claimed, true)
        return claimed.length
      }
    }
    const fresh = await read('>')
    if (fresh.length) await dispatch(fresh, false)
    return fresh.length
  }

  const close = async () => {
    await settle()
    current?.session.close()
    current = undefined
  }
  return { step, settle, close, stats, consumer, transport, inflightCount: () => inflight.size }
}

export interface Relay {
  consumer: string
  transport: RelayTransport['name']
  stats(): RelayStats
  /** Stops reading, waits for in-flight confirms (and their acks), closes the channel. */
  stop(): Promise<void>
}

const running = new Map<string, number>()

/** True while a continuous relay for this outbox runs in this process (the task then stands aside). */
export const continuousRelayRunning = (outboxKey: string) => (running.get(outboxKey) ?? 0) > 0

/** The continuous relay: loops until stopped, sleeping only when the outbox is empty. */
export function startRelay(deps: RelayDeps, opts: RelayOptions = {}): Relay {
  const core = createRelayCore(deps, opts)
  const controller = new AbortController()
  const idlePollMs = opts.idlePollMs ?? 100
  const base = opts.retryBaseMs ?? 200
  const max = opts.retryMaxMs ?? 30_000
  let appended = false
  let wake: (() => void) | undefined
  const unlisten = onAppended(deps.keys.outbox, () => {
    appended = true
    wake?.()
  })
  const key = deps.keys.outbox
  running.set(key, (running.get(key) ?? 0) + 1)

  const loop = (async () => {
    let attempt = 0
    let failing = false
    while (!controller.signal.aborted) {
      try {
        appended = false
        const n = await core.step()
        if (failing) deps.log.info('outbox relay recovered', { consumer: core.consumer })
        attempt = 0
        failing = false
        if (n === 0 && !appended) {
          await new Promise<void>((resolve) => {
            wake = resolve
            void sleep(idlePollMs, controller.signal).then(resolve)
          })
          wake = undefined
        }
      } catch (e) {
        if (!failing) deps.log.warn('outbox relay interrupted; retrying with backoff', { error: errorMessage(e), consumer: core.consumer })
        failing = true
        await sleep(Math.min(base * 2 ** attempt++, max), controller.signal)
      }
    }
    await core.close()
  })()

  return {
    consumer: core.consumer,
    transport: core.transport.name,
    stats: () => ({ ...core.stats }),
    stop: async () => {
      controller.abort()
      wake?.()
      await loop
      unlisten()
      running.set(key, (running.get(key) ?? 1) - 1)
    },
  }
}

/**
 * The task form: relays until the outbox is empty, the budget runs out or `signal` aborts.
 * For external triggers (cron, HTTP); the combined server runs startRelay instead.
 */
export async function drainOutbox(deps: RelayDeps, opts: RelayOptions & { signal?: AbortSignal; budgetMs?: number } = {}): Promise<RelayStats & { drained: boolean; error?: string }> {
  const core = createRelayCore(deps, opts)
  const deadline = Date.now() + (opts.budgetMs ?? 25_000)
  let drained = false
  let error: string | undefined
  try {
    while (!opts.signal?.aborted && Date.now() < deadline) {
      const n = await core.step()
      if (n === 0) {
        await core.settle()
        // Settled batches may have failed; one more step surfaces that (and republishes).
        if ((await core.step()) === 0 && core.inflightCount() === 0) {
          drained = true
          break
        }
      }
    }
  } catch (e) {
    error = errorMessage(e)
  } finally {
    await core.close()
  }
  return { ...core.stats, drained, ...(error ? { error } : {}) }
}
