import type { Channel, ChannelModel } from 'amqplib'
import { createAmqpBroker, type AmqpBroker } from '../events/amqp-broker.ts'
import type { Logger } from '../log.ts'
import type { Binding, EventSource, IncomingEvent, Subscription } from './event-source.ts'
import { errorMessage } from '../errors.ts'

export interface AmqpEventSourceOptions {
  log?: Logger
  retryBaseMs?: number
  retryMaxMs?: number
}

/**
 * RabbitMQ for service-kit consumers. Each subscription is an exclusive, auto-delete queue
 * bound to its exchange (declared durable with the same arguments the orchestrator uses, so
 * either side may come up first). After a reconnect, or if the broker closes the channel,
 * the queue is declared and bound again by itself.
 */
export function amqpEventSource(url: string, opts: AmqpEventSourceOptions = {}): EventSource {
  interface Sub {
    binding: Binding
    handler: (e: IncomingEvent) => void
    channel?: Channel
    /** The connection a bind is under way or done on; one queue per connection, never two. */
    boundTo?: ChannelModel
    active: boolean
    markReady: () => void
  }
  const subs = new Set<Sub>()
  let closed = false

  const bind = async (sub: Sub, conn: ChannelModel) => {
    if (!sub.active || closed || sub.boundTo === conn) return
    sub.boundTo = conn
    try {
      const ch = await conn.createChannel()
      ch.on('error', (e: Error) => opts.log?.warn('event consumer channel error', { exchange: sub.binding.exchange, error: e.message }))
      ch.on('close', () => {
        if (sub.channel === ch) sub.channel = undefined
        if (sub.boundTo === conn) sub.boundTo = undefined
        // The connection is still up but the channel went (e.g. closed by the broker): rebind.
        if (sub.active && !closed && broker.connection() === conn) setTimeout(() => void bind(sub, conn), 500).unref?.()
      })
      const { exchange, type, pattern } = sub.binding
      await ch.assertExchange(exchange, type, { durable: true })
      const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true })
      await ch.bindQueue(queue, exchange, type === 'fanout' ? '' : pattern)
      await ch.consume(
        queue,
        (m) => {
          if (!m) return
          const messageId = typeof m.properties.messageId === 'string' ? m.properties.messageId : undefined
          try {
            sub.handler({ exchange: m.fields.exchange, routingKey: m.fields.routingKey, body: m.content.toString('utf8'), messageId })
          } catch (e) {
            opts.log?.warn('event handler failed', { exchange, error: errorMessage(e) })
          }
        },
        { noAck: true },
      )
      sub.channel = ch
      if (!sub.active) await ch.close().catch(() => {})
      sub.markReady()
    } catch (e) {
      if (sub.boundTo === conn) sub.boundTo = undefined
      opts.log?.warn('could not bind event consumer; retrying after reconnect', { exchange: sub.binding.exchange, error: errorMessage(e) })
    }
  }

  const broker: AmqpBroker = createAmqpBroker(url, {
    log: opts.log,
    retryBaseMs: opts.retryBaseMs,
    retryMaxMs: opts.retryMaxMs,
    onConnected: async (conn) => {
      await Promise.all([...subs].map((s) => bind(s, conn)))
    },
  })

  return {
    subscribe: (binding, handler): Subscription => {
      let markReady = () => {}
      const ready = new Promise<void>((resolve) => (markReady = resolve))
      const sub: Sub = { binding, handler, active: true, markReady }
      subs.add(sub)
      const conn = broker.connection()
      if (conn) void bind(sub, conn)
      return {
        ready,
        close: async () => {
          sub.active = false
          subs.delete(sub)
          await sub.channel?.close().catch(() => {})
        },
      }
    },
    close: async () => {
      closed = true
      for (const s of subs) s.active = false
      subs.clear()
      await broker.close()
    },
  }
}
