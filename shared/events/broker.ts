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

export const embeddedBroker: Broker = {
  state: () => 'embedded',
  check: async () => ({ ok: true, state: 'embedded', message: 'embedded mode: events are delivered in-process (set ORCHESTRATOR_RABBITMQ_CONNECTION to use RabbitMQ)' }),
  close: async () => {},
}

export const unconfiguredBroker: Broker = {
  state: () => 'not-configured',
  check: async () => ({ ok: false, state: 'not-configured', message: 'ORCHESTRATOR_RABBITMQ_CONNECTION is not set' }),
  close: async () => {},
}
