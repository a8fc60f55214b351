import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib'
import { prefixedExchanges } from '../../shared/events/topology.ts'
import type { ExchangeNames } from '../../shared/events/topology.ts'
import { RABBITMQ } from './context.ts'

/** Exchange names no other test uses; deleted again by `deleteExchanges`. */
export const uniqueExchanges = (label = 't'): ExchangeNames => prefixedExchanges(`test-${label}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`)

export interface Collector {
  messages: ConsumeMessage[]
  /** eventId → how often it arrived. */
  seen: Map<string, number>
  close(): Promise<void>
}

/**
 * A plain amqplib consumer straight on the real RabbitMQ (never through a test proxy): an
 * exclusive queue bound to each exchange, collecting every message.
 */
export async function collect(names: ExchangeNames): Promise<Collector> {
  const conn: ChannelModel = await amqp.connect(RABBITMQ)
  const ch: Channel = await conn.createChannel()
  const messages: ConsumeMessage[] = []
  const seen = new Map<string, number>()
  const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true })
  for (const [name, type] of [
    [names.serviceMappings, 'topic'],
    [names.configuration, 'fanout'],
    [names.orchestrator, 'topic'],
  ] as const) {
    await ch.assertExchange(name, type, { durable: true })
    await ch.bindQueue(queue, name, type === 'topic' ? '#' : '')
  }
  await ch.consume(
    queue,
    (m) => {
      if (!m) return
      messages.push(m)
      const id = String(m.properties.messageId)
      seen.set(id, (seen.get(id) ?? 0) + 1)
    },
    { noAck: true },
  )
  return {
    messages,
    seen,
    close: async () => {
      await conn.close().catch(() => {})
    },
  }
}

/** Removes a test's exchanges from the shared broker. */
export async function deleteExchanges(names: ExchangeNames) {
  const conn = await amqp.connect(RABBITMQ)
  const ch = await conn.createChannel()
  for (const n of Object.values(names)) await ch.deleteExchange(n).catch(() => {})
  await conn.close().catch(() => {})
}
