import * as v from 'valibot'
import type { Keys } from '../store/keys.ts'
import type { Command, Store } from '../store/types.ts'
import { ConfigurationChangedEvent, EXCHANGES, LifecycleEvent, ServiceMappingEvent, type OutboundEvent } from './schemas.ts'

/** Where each kind of event goes on RabbitMQ. */
export function routeOf(e: OutboundEvent): { exchange: string; routingKey: string } {
  switch (e.kind) {
    case 'service-mapping':
      return { exchange: EXCHANGES.serviceMappings, routingKey: e.event.serviceName }
    case 'configuration':
      return { exchange: EXCHANGES.configuration, routingKey: '' }
    case 'lifecycle':
      return { exchange: EXCHANGES.orchestrator, routingKey: e.event.type }
  }
}

const schemaOf = {
  'service-mapping': ServiceMappingEvent,
  configuration: ConfigurationChangedEvent,
  lifecycle: LifecycleEvent,
} as const

/**
 * XADD commands that append events to the outbox stream. Validates first (throws ValiError),
 * so a bad event is rejected at emit and never reaches the stream.
 */
export function outboxCommands(keys: Keys, events: readonly OutboundEvent[]): Command[] {
  return events.map((e) => {
    const event = v.parse(schemaOf[e.kind] as v.GenericSchema, e.event) as { eventId: string }
    const { exchange, routingKey } = routeOf(e)
    return ['XADD', keys.outbox, '*', 'kind', e.kind, 'exchange', exchange, 'routingKey', routingKey, 'eventId', event.eventId, 'emittedAt', Date.now(), 'payload', JSON.stringify(event)]
  })
}

/**
 * Writes a state change and its events in one MULTI: either both land or neither does.
 * The relay (scheduler task) publishes from the stream with publisher confirms.
 */
export async function emit(r: { store: Store; keys: Keys }, events: readonly OutboundEvent[], stateChanges: readonly Command[] = []) {
  const cmds = [...stateChanges, ...outboxCommands(r.keys, events)]
  if (cmds.length === 0) return []
  return r.store.transaction(cmds)
}
