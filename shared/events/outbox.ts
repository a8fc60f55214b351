import * as v from 'valibot'
import type { Keys } from '../store/keys.ts'
import type { Command, Store } from '../store/types.ts'
import { eventMetrics, type EventMetrics } from './metrics.ts'
import { ConfigurationChangedEvent, EXCHANGES, LifecycleEvent, ServiceMappingEvent, type OutboundEvent } from './schemas.ts'
import type { ExchangeNames } from './topology.ts'

/** The reference's routing-cache TTL: `service:routing:{serviceName}` lives 5 minutes. */
export const ROUTING_TTL_SECONDS = 300

/** Where each kind of event goes on RabbitMQ. */
export function routeOf(e: OutboundEvent, names: ExchangeNames = EXCHANGES): { exchange: string; routingKey: string } {
  switch (e.kind) {
    case 'service-mapping':
      return { exchange: names.serviceMappings, routingKey: e.event.serviceName }
    case 'configuration':
      return { exchange: names.configuration, routingKey: '' }
    case 'lifecycle':
      return { exchange: names.orchestrator, routingKey: e.event.type }
  }
}

const schemaOf = {
  'service-mapping': ServiceMappingEvent,
  configuration: ConfigurationChangedEvent,
  lifecycle: LifecycleEvent,
} as const

/** A schema violation caught at emit: a bug in the caller, so nothing of the MULTI is written. */
export class InvalidEventError extends Error {
  constructor(
    readonly kind: string,
    readonly issues: { field: string; message: string }[],
  ) {
    super(`invalid ${kind} event: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`)
    this.name = 'InvalidEventError'
  }
}

function validate(e: OutboundEvent): { eventId: string } {
  const schema = schemaOf[e.kind] as v.GenericSchema | undefined
  if (!schema) throw new InvalidEventError(String(e.kind), [{ field: 'kind', message: 'must be service-mapping, configuration or lifecycle' }])
  const r = v.safeParse(schema, e.event)
  if (!r.success) {
    throw new InvalidEventError(
      e.kind,
      r.issues.map((i) => ({ field: v.getDotPath(i) ?? '(event)', message: i.message })),
    )
  }
  return r.output as { eventId: string }
}

/**
 * The routing cache the reference keeps next to each mapping event: register/update write
 * `service:routing:{serviceName}` (TTL 5 min), unregister deletes it. emit() adds these
 * for every service-mapping event, so the cache and the event always travel together.
 */
export function serviceMappingCommands(keys: Keys, e: ServiceMappingEvent): Command[] {
  const key = keys.routing(e.serviceName)
  if (e.action === 'unregister') return [['DEL', key]]
  const value = { serviceName: e.serviceName, appId: e.appId, region: e.region, priority: e.priority, eventId: e.eventId, timestamp: e.timestamp }
  return [['SET', key, JSON.stringify(value), 'EX', ROUTING_TTL_SECONDS]]
}

/**
 * XADD commands that append events to the outbox stream. Validates first (throws
 * InvalidEventError naming each bad field), so a bad event never reaches the stream.
 * Stream fields: kind, exchange, routingKey, eventId, emittedAt (ms), payload (JSON).
 */
export function outboxCommands(keys: Keys, events: readonly OutboundEvent[], names: ExchangeNames = EXCHANGES, now = Date.now()): Command[] {
  return events.map((e) => ['XADD', keys.outbox, '*', ...outboxFields(e, names, now)])
}

/** The stream fields of one outbox entry (validated like outboxCommands), for scripts that XADD themselves. */
export function outboxFields(e: OutboundEvent, names: ExchangeNames = EXCHANGES, now = Date.now()): [string, string, string, string, string, string, string, string, string, string, string, string] {
  const event = validate(e)
  const { exchange, routingKey } = routeOf(e, names)
  return ['kind', e.kind, 'exchange', exchange, 'routingKey', routingKey, 'eventId', event.eventId, 'emittedAt', String(now), 'payload', JSON.stringify(event)]
}

export interface Emitter {
  store: Store
  keys: Keys
  /** Defaults to the reference's exchange names; tests inject unique ones. */
  exchanges?: ExchangeNames
  metrics?: EventMetrics
}

/**
 * Writes a state change and its events in one MULTI: either both land or neither does.
 * The relay publishes from the stream with publisher confirms; a relay in this process
 * is woken at once, others find the entries on their next poll.
 */
export async function emit(r: Emitter, events: readonly OutboundEvent[], stateChanges: readonly Command[] = []) {
  const appends = outboxCommands(r.keys, events, r.exchanges)
  const routing = events.flatMap((e) => (e.kind === 'service-mapping' ? serviceMappingCommands(r.keys, e.event) : []))
  const cmds = [...stateChanges, ...routing, ...appends]
  if (cmds.length === 0) return []
  const replies = await r.store.transaction(cmds)
  ;(r.metrics ?? eventMetrics).emitted += events.length
  if (events.length) notifyAppended(r.keys.outbox)
  return replies
}

const listeners = new Map<string, Set<() => void>>()

/** Lets a relay in this process sleep until something is appended (polling covers others). */
export function onAppended(outboxKey: string, fn: () => void): () => void {
  const set = listeners.get(outboxKey) ?? new Set()
  listeners.set(outboxKey, set)
  set.add(fn)
  return () => {
    set.delete(fn)
    if (set.size === 0) listeners.delete(outboxKey)
  }
}

function notifyAppended(outboxKey: string) {
  for (const fn of listeners.get(outboxKey) ?? []) fn()
}
