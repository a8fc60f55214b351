import type { LocalBus } from '../events/local-bus.ts'

/** One message as a service-kit consumer sees it, from RabbitMQ or the in-process bus. */
export interface IncomingEvent {
  exchange: string
  routingKey: string
  body: string
  messageId?: string
}

export interface Binding {
  exchange: string
  type: 'topic' | 'fanout'
  /** Topic pattern (`#` = everything); ignored for fanout. */
  pattern: string
}

export interface Subscription {
  /** Resolves once the queue is bound the first time (events before that are not seen). */
  ready: Promise<void>
  close(): Promise<void>
}

/**
 * Where service-kit consumers get events: `amqpEventSource(url)` (./amqp-source.ts) in a
 * real deployment, `localEventSource(bus)` in embedded mode. Both rebind by themselves.
 */
export interface EventSource {
  subscribe(binding: Binding, handler: (e: IncomingEvent) => void): Subscription
  close(): Promise<void>
}

/** Embedded mode: subscribe to the orchestrator's in-process bus (ctx.broker.bus). */
export function localEventSource(bus: LocalBus): EventSource {
  const unsubscribers = new Set<() => void>()
  return {
    subscribe: (b, handler) => {
      const off = bus.subscribe(b.exchange, b.type, b.pattern, (m) => handler({ exchange: m.exchange, routingKey: m.routingKey, body: m.body, messageId: m.messageId }))
      unsubscribers.add(off)
      return {
        ready: Promise.resolve(),
        close: async () => {
          off()
          unsubscribers.delete(off)
        },
      }
    },
    close: async () => {
      for (const off of unsubscribers) off()
      unsubscribers.clear()
    },
  }
}
