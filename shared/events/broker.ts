import { createLocalBus, type LocalBus } from './local-bus.ts'

/**
 * What the core knows of the message broker. The amqplib implementation lives in
 * ./amqp-broker.ts and is injected by the Node platform; edge runtimes have none.
 */
export type BrokerState = 'ready' | 'connecting' | 'down' | 'not-configured' | 'embedded'

export interface BrokerCheck {
  ok: boolean
  state: BrokerState
  message: string
  latencyMs?: number
}

export interface Broker {
  state(): BrokerState
  /** Opens (or reuses) a connection and a channel; never throws. */
  check(): Promise<BrokerCheck>
  close(): Promise<void>
}

/** Embedded mode: the relay publishes to an in-process bus that service-kit consumers can join. */
export interface EmbeddedBroker extends Broker {
  bus: LocalBus
}

export function createEmbeddedBroker(bus: LocalBus = createLocalBus()): EmbeddedBroker {
  return {
    bus,
    state: () => 'embedded',
    check: async () => ({ ok: true, state: 'embedded', message: 'embedded mode: events are delivered in-process (set ORCHESTRATOR_RABBITMQ_CONNECTION to use RabbitMQ)' }),
    close: async () => {},
  }
}

export const isEmbeddedBroker = (b: Broker): b is EmbeddedBroker => 'bus' in b && typeof (b as EmbeddedBroker).bus?.publish === 'function'

/** A process-wide embedded broker, for callers without a context. */
export const embeddedBroker: EmbeddedBroker = createEmbeddedBroker()

export const unconfiguredBroker: Broker = {
  state: () => 'not-configured',
  check: async () => ({ ok: false, state: 'not-configured', message: 'ORCHESTRATOR_RABBITMQ_CONNECTION is not set' }),
  close: async () => {},
}
