import type { ChannelModel, ConfirmChannel } from 'amqplib'
import type { Logger } from '../log.ts'
import { withTimeout } from '../timeout.ts'
import type { AmqpBroker } from './amqp-broker.ts'
import { isEmbeddedBroker, type Broker } from './broker.ts'
import type { LocalBus } from './local-bus.ts'
import { exchangeTypeOf, topology, type ExchangeNames } from './topology.ts'

/** One outbox entry, as the relay hands it to a transport. */
export interface OutboxMessage {
  /** Stream entry id. */
  id: string
  kind: string
  exchange: string
  routingKey: string
  eventId: string
  emittedAt: number
  payload: string
}

export interface BatchResult {
  /** Every message is handed to the socket (in order); the next batch may start. */
  written: Promise<void>
  /** The broker confirmed every message; rejects on a nack, a lost channel or a timeout. */
  confirmed: Promise<void>
}

/** A publishing session: one confirm channel. Once it fails it stays closed; open another. */
export interface PublishSession {
  publishBatch(messages: readonly OutboxMessage[]): BatchResult
  isOpen(): boolean
  close(): void
}

export interface RelayTransport {
  name: 'amqp' | 'local'
  open(): Promise<PublishSession>
}

export interface AmqpTransportOptions {
  exchanges?: ExchangeNames
  /** A batch without every confirm after this long counts as lost and is republished. */
  confirmTimeoutMs?: number
  /** How long open() waits for a connection before the relay backs off and retries. */
  openTimeoutMs?: number
  log?: Logger
}

const isAmqpBroker = (b: Broker): b is AmqpBroker => typeof (b as AmqpBroker).ready === 'function' && typeof (b as AmqpBroker).connection === 'function'

/** Declares the three exchanges (durable) on a channel: at connect and after every reconnect. */
export async function declareTopology(ch: Pick<ConfirmChannel, 'assertExchange'>, names?: ExchangeNames) {
  for (const x of topology(names)) await ch.assertExchange(x.name, x.type, { durable: true })
}

/** Same, on a connection: the broker's onConnected hook. */
export async function declareTopologyOn(conn: ChannelModel, names?: ExchangeNames) {
  const ch = await conn.createChannel()
  try {
    await declareTopology(ch, names)
  } finally {
    await ch.close().catch(() => {})
  }
}

/** RabbitMQ through a reconnecting AmqpBroker, on a confirm channel per session. */
export function amqpTransport(broker: AmqpBroker, opts: AmqpTransportOptions = {}): RelayTransport {
  const confirmTimeoutMs = opts.confirmTimeoutMs ?? 10_000
  const openTimeoutMs = opts.openTimeoutMs ?? 5_000
  return {
    name: 'amqp',
    open: async () => {
      const conn = await broker.ready(openTimeoutMs)
      const ch = await withTimeout(conn.createConfirmChannel(), openTimeoutMs, 'RabbitMQ channel open')
      let open = true
      let lostError: Error | undefined
      ch.on('error', (e: Error) => {
        lostError = e
        opts.log?.warn('relay channel error', { error: e.message })
      })
      ch.on('close', () => {
        open = false
      })
      const declared = new Set<string>()
      try {
        await withTimeout(declareTopology(ch, opts.exchanges), openTimeoutMs, 'RabbitMQ exchange declaration')
        for (const x of topology(opts.exchanges)) declared.add(x.name)
      } catch (e) {
        void ch.close().catch(() => {})
        throw e
      }
      const close = () => {
        if (!open) return
        open = false
        void ch.close().catch(() => {})
      }
      const drained = () =>
        new Promise<void>((resolve) => {
          const done = () => {
            ch.off('drain', done)
            ch.off('close', done)
            resolve()
          }
          ch.once('drain', done)
          ch.once('close', done)
        })

      // Batches are written strictly one after another, so a later batch never overtakes.
      let writing: Promise<void> = Promise.resolve()
      const publishBatch = (messages: readonly OutboxMessage[]): BatchResult => {
        const confirms: Promise<void>[] = []
        const written = writing.then(async () => {
          // An exchange emitted under another name (tests, tenants) is declared before use.
          for (const m of messages) {
            if (declared.has(m.exchange)) continue
            await ch.assertExchange(m.exchange, exchangeTypeOf(m.kind), { durable: true })
            declared.add(m.exchange)
          }
          for (const m of messages) {
            if (!open) throw lostError ?? new Error('channel closed')
            let ok = true
            const confirm = new Promise<void>((resolve, reject) => {
                ok = ch.publish(
                  m.exchange,
                  m.routingKey,
                  Buffer.from(m.payload),
                  {
                    persistent: true,
                    contentType: 'application/json',
                    messageId: m.eventId,
                    timestamp: Math.floor(m.emittedAt / 1000),
                    type: m.kind,
                    appId: 'bannou-orchestrator',
                  },
                  (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
                )
              })
            confirm.catch(() => {}) // observed via Promise.all below; never an unhandled rejection
            confirms.push(confirm)
            // Backpressure: when the socket buffer is full, wait for it to drain.
            if (!ok) await drained()
          }
        })
        writing = written.catch(() => {})
        const confirmed = written.then(() =>
          withTimeout(Promise.all(confirms).then(() => undefined), confirmTimeoutMs, 'RabbitMQ publisher confirm').catch((e: unknown) => {
            close()
            throw e
          }),
        )
        confirmed.catch(() => {}) // a caller that stops at a failed write never awaits this
        return { written, confirmed }
      }
      return { publishBatch, isOpen: () => open, close }
    },
  }
}

/** Embedded mode: the in-process bus delivers at once, so every publish is confirmed. */
export function localTransport(bus: LocalBus): RelayTransport {
  const session: PublishSession = {
    publishBatch: (messages) => {
      for (const m of messages) bus.publish({ exchange: m.exchange, routingKey: m.routingKey, body: m.payload, messageId: m.eventId, timestamp: m.emittedAt })
      const done = Promise.resolve()
      return { written: done, confirmed: done }
    },
    isOpen: () => true,
    close: () => {},
  }
  return { name: 'local', open: async () => session }
}

/** The transport a broker offers: RabbitMQ, the in-process bus, or none (not configured). */
export function transportFor(broker: Broker, opts: AmqpTransportOptions = {}): RelayTransport | undefined {
  if (isEmbeddedBroker(broker)) return localTransport(broker.bus)
  if (isAmqpBroker(broker)) return amqpTransport(broker, opts)
  return undefined
}
