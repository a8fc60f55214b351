import * as v from 'valibot'
import { EXCHANGES, ServiceMappingEvent } from '../events/schemas.ts'
import type { Logger } from '../log.ts'
import { createKeys } from '../store/keys.ts'
import { asArray, asString, parseJson } from '../store/ops.ts'
import type { Store } from '../store/types.ts'
import type { EventSource } from './event-source.ts'
import { errorMessage } from '../errors.ts'

/** The reference's omnipotent default: an unknown service is served by the "bannou" container. */
export const DEFAULT_APP_ID = 'bannou'

export type ApplyOutcome = 'applied' | 'duplicate' | 'stale' | 'invalid'

export interface Mapping {
  appId: string
  region?: string
  priority?: number
  eventId: string
  timestamp: string
}

/** Remembers this many eventIds for dedupe (far more than any redelivery window). */
const REMEMBERED_IDS = 10_000

/**
 * serviceName → appId in memory, fed by ServiceMappingEvents (the reference's
 * ServiceAppMappingResolver). Delivery is at-least-once and unordered across reconnects, so
 * a repeated eventId is ignored, and an event older than the last one applied for that
 * service is ignored too (an unregister leaves its timestamp behind, so a late older
 * register cannot resurrect the mapping).
 */
export function createMappingTable(defaultAppId = DEFAULT_APP_ID) {
  const mappings = new Map<string, Mapping>()
  const latest = new Map<string, number>()
  const seen = new Set<string>()

  const apply = (input: unknown): ApplyOutcome => {
    const r = v.safeParse(ServiceMappingEvent, input)
    if (!r.success) return 'invalid'
    const e = r.output
    if (seen.has(e.eventId)) return 'duplicate'
    seen.add(e.eventId)
    if (seen.size > REMEMBERED_IDS) seen.delete(seen.values().next().value!)
    const at = Date.parse(e.timestamp)
    if (at < (latest.get(e.serviceName) ?? -Infinity)) return 'stale'
    latest.set(e.serviceName, at)
    if (e.action === 'unregister') mappings.delete(e.serviceName)
    else mappings.set(e.serviceName, { appId: e.appId, region: e.region, priority: e.priority, eventId: e.eventId, timestamp: e.timestamp })
    return 'applied'
  }

  return {
    apply,
    getAppIdForService: (serviceName: string) => mappings.get(serviceName)?.appId ?? defaultAppId,
    getMapping: (serviceName: string) => mappings.get(serviceName),
    /** serviceName → appId for every explicit mapping. */
    all: () => Object.fromEntries([...mappings].map(([k, m]) => [k, m.appId])),
  }
}

export interface MappingResolverOptions {
  source: EventSource
  /** Default `bannou-service-mappings`. */
  exchange?: string
  /** Topic pattern over service names; default every service. */
  pattern?: string
  defaultAppId?: string
  onChange?: (serviceName: string, appId: string, outcome: ApplyOutcome) => void
  log?: Logger
  /**
   * Catch up from the orchestrator's routing cache (`service:routing:*`, kept current by its
   * routing-refresh task) once bound: events are not queued for a service that is not
   * running, so without this one started after a deploy would route to the default app.
   */
  routingCache?: { store: Store; keyPrefix?: string; /** Tries before giving up on it (default 5, backing off from 200 ms). */ attempts?: number }
}

/**
 * Applies every `service:routing:{serviceName}` entry as a register event stamped with the
 * entry's own timestamp, so a mapping event newer than the cache still wins and an older one
 * still loses. Returns how many mappings it applied.
 */
export async function seedFromRoutingCache(
  table: ReturnType<typeof createMappingTable>,
  store: Store,
  keyPrefix = '',
  onApplied?: (serviceName: string) => void,
): Promise<number> {
  let applied = 0
  let cursor = '0'
  do {
    const [next, found] = asArray(await store.call(['SCAN', cursor, 'MATCH', createKeys(keyPrefix).routingScanPattern, 'COUNT', 1000]))
    cursor = String(next ?? '0')
    const keys = asArray(found ?? null).map(String)
    if (keys.length === 0) continue
    const values = asArray(await store.call(['MGET', ...keys]))
    for (const raw of values) {
      const entry = parseJson(asString(raw))
      if (!entry.ok || typeof entry.value !== 'object' || entry.value === null) continue
      const { serviceName, appId, timestamp, region, priority } = entry.value as Record<string, unknown>
      const event = { eventId: crypto.randomUUID(), action: 'register', serviceName, appId, timestamp, region, priority }
      if (table.apply(event) !== 'applied') continue
      applied++
      onApplied?.(String(serviceName))
    }
  } while (cursor !== '0')
  return applied
}

/**
 * What a Bannou service embeds to route calls: binds an exclusive queue to
 * `bannou-service-mappings` and keeps the table current. `ready` resolves once bound.
 */
export function startMappingResolver(opts: MappingResolverOptions) {
  const table = createMappingTable(opts.defaultAppId)
  const sub = opts.source.subscribe({ exchange: opts.exchange ?? EXCHANGES.serviceMappings, type: 'topic', pattern: opts.pattern ?? '#' }, (m) => {
    let body: unknown
    try {
      body = JSON.parse(m.body)
    } catch {
      opts.log?.warn('ignoring a service mapping message that is not JSON', { messageId: m.messageId })
      return
    }
    const outcome = table.apply(body)
    if (outcome === 'invalid') opts.log?.warn('ignoring an invalid ServiceMappingEvent', { messageId: m.messageId })
    const name = (body as { serviceName?: unknown }).serviceName
    if (outcome === 'applied' && typeof name === 'string') opts.onChange?.(name, table.getAppIdForService(name), outcome)
  })
  const cache = opts.routingCache
  const ready = !cache
    ? sub.ready
    : sub.ready.then(async () => {
        // A store still connecting at startup fails fast: a few tries, then events only.
        for (let attempt = 1; ; attempt++) {
          try {
            const n = await seedFromRoutingCache(table, cache.store, cache.keyPrefix, (name) => opts.onChange?.(name, table.getAppIdForService(name), 'applied'))
            if (n > 0) opts.log?.info('service mappings caught up from the routing cache', { mappings: n })
            return
          } catch (e) {
            if (attempt >= (cache.attempts ?? 5)) {
              opts.log?.warn('could not read the routing cache; following events only', { error: errorMessage(e) })
              return
            }
            await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)))
          }
        }
      })
  return { ...table, ready, stop: () => sub.close() }
}

export type MappingResolver = ReturnType<typeof startMappingResolver>
