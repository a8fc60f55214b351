import * as v from 'valibot'
import { EXCHANGES, ServiceMappingEvent } from '../events/schemas.ts'
import type { Logger } from '../log.ts'
import type { EventSource } from './event-source.ts'

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
  return { ...table, ready: sub.ready, stop: () => sub.close() }
}

export type MappingResolver = ReturnType<typeof startMappingResolver>
