import { afterEach, describe, expect, it } from 'vitest'
import { createAmqpBroker } from '../../shared/events/amqp-broker.ts'
import { emit, InvalidEventError } from '../../shared/events/outbox.ts'
import { drainOutbox, RELAY_GROUP, startRelay, type Relay } from '../../shared/events/relay.ts'
import { stamp, type LifecycleEvent, type OutboundEvent } from '../../shared/events/schemas.ts'
import type { ExchangeNames } from '../../shared/events/topology.ts'
import { createEventMetrics } from '../../shared/events/metrics.ts'
import type { Context } from '../../shared/context.ts'
import { createLogger } from '../../shared/log.ts'
import { collect, deleteExchanges, uniqueExchanges } from '../support/amqp.ts'
import { disposeContext, RABBITMQ, testContext } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { startTcpProxy } from '../support/tcp-proxy.ts'
import { asArray } from '../../shared/store/ops.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
})

async function setup(label: string) {
  const ctx = testContext({ ORCHESTRATOR_RABBITMQ_CONNECTION: RABBITMQ }, process.env.DEBUG_RELAY ? { log: createLogger('debug') } : {})
  const exchanges = uniqueExchanges(label)
  const consumer = await collect(exchanges)
  await waitFor(async () => (await ctx.store.ping(), true), 10_000, 20)
  // Our own connection (ctx.broker would also declare the default bannou-* exchanges).
  const broker = createAmqpBroker(RABBITMQ, { retryBaseMs: 100, retryMaxMs: 500 })
  cleanups.push(() => disposeContext(ctx), () => deleteExchanges(exchanges), () => consumer.close(), () => broker.close())
  return { ctx, exchanges, consumer, broker, emitter: { store: ctx.store, keys: ctx.keys, exchanges, metrics: createEventMetrics() } }
}

const lifecycle = (data: Record<string, unknown> = {}): OutboundEvent => ({ kind: 'lifecycle', event: stamp({ type: 'topology.changed' as const, source: 'orchestrator' as const, data }) as LifecycleEvent })

function relayOn(ctx: Context, exchanges: ExchangeNames, extra: Parameters<typeof startRelay>[1] = {}): Relay {
  const relay = startRelay(ctx, { exchanges, metrics: createEventMetrics(), ...extra })
  cleanups.push(() => relay.stop())
  return relay
}

describe('outbox relay → RabbitMQ', () => {
  it('round trip: each kind arrives on its exchange with its routing key, payload and properties', async () => {
    const { ctx, exchanges, consumer, broker, emitter } = await setup('rt')
    relayOn(ctx, exchanges, { broker })
    const mapping = stamp({ serviceName: 'auth', appId: 'bannou-auth', action: 'register' as const, region: 'eu', priority: 2 })
    const config = stamp({ configVersion: 7, changedKeys: ['auth.jwt_secret', 'database.password'] })
    const life = stamp({ type: 'deployment.succeeded' as const, source: 'orchestrator' as const, environment: 'dev', data: { revision: 3 } })
    await emit(emitter, [
      { kind: 'service-mapping', event: mapping },
      { kind: 'configuration', event: config },
      { kind: 'lifecycle', event: life },
    ])
    expect(await waitFor(async () => consumer.messages.length >= 3, 10_000, 20)).toBe(true)
    const byId = new Map(consumer.messages.map((m) => [String(m.properties.messageId), m]))
    const m1 = byId.get(mapping.eventId)!
    expect(m1.fields.exchange).toBe(exchanges.serviceMappings)
    expect(m1.fields.routingKey).toBe('auth')
    expect(JSON.parse(m1.content.toString())).toEqual(mapping)
    expect(m1.properties).toMatchObject({ contentType: 'application/json', deliveryMode: 2, messageId: mapping.eventId })
    expect(typeof m1.properties.timestamp).toBe('number')
    const m2 = byId.get(config.eventId)!
    expect(m2.fields.exchange).toBe(exchanges.configuration)
    expect(JSON.parse(m2.content.toString())).toEqual(config)
    const m3 = byId.get(life.eventId)!
    expect(m3.fields.exchange).toBe(exchanges.orchestrator)
    expect(m3.fields.routingKey).toBe('deployment.succeeded')
    expect(JSON.parse(m3.content.toString())).toEqual(life)
    // Confirmed entries are acked and deleted.
    expect(await waitFor(async () => Number(await ctx.store.call(['XLEN', ctx.keys.outbox])) === 0, 5000, 20)).toBe(true)
  })

  it('writes the routing cache in the same MULTI as the mapping event; unregister deletes it', async () => {
    const { ctx, emitter } = await setup('cache')
    const reg = stamp({ serviceName: 'accounts', appId: 'npc-omega', action: 'register' as const })
    await emit(emitter, [{ kind: 'service-mapping', event: reg }], [['SET', `${ctx.keys.prefix}state`, 'deployed']])
    const cached = JSON.parse(String(await ctx.store.call(['GET', ctx.keys.routing('accounts')])))
    expect(cached).toMatchObject({ serviceName: 'accounts', appId: 'npc-omega', eventId: reg.eventId })
    const ttl = Number(await ctx.store.call(['TTL', ctx.keys.routing('accounts')]))
    expect(ttl).toBeGreaterThan(290)
    expect(ttl).toBeLessThanOrEqual(300)
    expect(await ctx.store.call(['GET', `${ctx.keys.prefix}state`])).toBe('deployed')
    await emit(emitter, [{ kind: 'service-mapping', event: stamp({ serviceName: 'accounts', appId: 'npc-omega', action: 'unregister' as const }) }])
    expect(await ctx.store.call(['EXISTS', ctx.keys.routing('accounts')])).toBe(0)
    expect(await ctx.store.call(['XLEN', ctx.keys.outbox])).toBe(2)
  })

  it('rejects schema violations at emit with a clear error and writes nothing', async () => {
    const { ctx, emitter } = await setup('bad')
    const good = lifecycle()
    const bad = { kind: 'service-mapping', event: { eventId: 'nope', timestamp: 'yesterday', serviceName: 'auth', appId: 'x', action: 'move' } } as unknown as OutboundEvent
    const attempt = emit(emitter, [good, bad], [['SET', `${ctx.keys.prefix}state`, 'changed']])
    await expect(attempt).rejects.toBeInstanceOf(InvalidEventError)
    await expect(attempt).rejects.toThrow(/invalid service-mapping event: eventId: must be a UUID; timestamp: must be an ISO 8601 date-time; action: must be register, unregister or update/)
    expect(await ctx.store.call(['EXISTS', ctx.keys.outbox, `${ctx.keys.prefix}state`, ctx.keys.routing('auth')])).toBe(0)
  })

  it('the task form drains the outbox and reports what it did', async () => {
    const { ctx, exchanges, consumer, broker, emitter } = await setup('task')
    for (let i = 0; i < 5; i++) await emit(emitter, Array.from({ length: 100 }, (_, j) => lifecycle({ i, j })))
    const result = await drainOutbox(ctx, { broker, exchanges, batchSize: 64, metrics: createEventMetrics() })
    expect(result).toMatchObject({ drained: true, published: 500, confirmed: 500, retried: 0 })
    expect(await waitFor(async () => consumer.seen.size === 500, 10_000, 20)).toBe(true)
    expect(await ctx.store.call(['XLEN', ctx.keys.outbox])).toBe(0)
  })

  it('loses nothing across broker outages, including one while a confirm batch is in flight', async () => {
    const { ctx, exchanges, consumer, emitter } = await setup('outage')
    const proxy = await startTcpProxy(5672)
    cleanups.push(() => proxy.close())
    const viaProxy = createAmqpBroker(`amqp://guest:guest@127.0.0.1:${proxy.port}`, { retryBaseMs: 100, retryMaxMs: 400, connectTimeoutMs: 2000, log: process.env.DEBUG_RELAY ? createLogger('debug') : undefined })
    cleanups.push(() => viaProxy.close())
    const metrics = createEventMetrics()
    let cutOnNextPublish = false
    let cutsInFlight = 0
    const batchSize = 200
    const maxInFlight = 4
    relayOn(ctx, exchanges, {
      broker: viaProxy,
      metrics,
      batchSize,
      maxInFlight,
      onPublished: () => {
        // Written to the socket, confirm not yet back: cut now.
        if (!cutOnNextPublish) return
        cutOnNextPublish = false
        cutsInFlight++
        proxy.cut()
      },
    })
    const total = 10_000
    const chunk = 100
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))
    let next = 0
    const emitChunks = async (n: number, gapMs = 0) => {
      for (let c = 0; c < n; c++, next++) {
        await emit(emitter, Array.from({ length: chunk }, (_, j) => lifecycle({ n: next * chunk + j })))
        if (gapMs) await pause(gapMs)
      }
    }
    await emitChunks(20)
    // Outage 1: about 3 s without a broker while events keep coming.
    proxy.cut()
    await emitChunks(30, 100)
    proxy.restore()
    await emitChunks(20)
    // Outage 2: cut right after a batch is written, before its confirms are back.
    cutOnNextPublish = true
    await emitChunks(20)
    expect(await waitFor(async () => cutsInFlight === 1, 10_000, 5)).toBe(true)
    await pause(1000)
    proxy.restore()
    await emitChunks(total / chunk - next)
    proxy.restore()
    const delivered = await waitFor(async () => consumer.seen.size === total, 30_000, 100)
    if (!delivered) console.log(JSON.stringify({ seen: consumer.seen.size, metrics, xlen: await ctx.store.call(['XLEN', ctx.keys.outbox]), pending: await ctx.store.call(['XPENDING', ctx.keys.outbox, RELAY_GROUP]), broker: viaProxy.state() }))
    expect(delivered).toBe(true)
    expect(await waitFor(async () => Number(await ctx.store.call(['XLEN', ctx.keys.outbox])) === 0, 10_000, 50)).toBe(true)
    const duplicates = consumer.messages.length - total
    // At-least-once: duplicates only from batches in flight when a connection died.
    expect(cutsInFlight).toBe(1)
    expect(metrics.retried).toBeGreaterThan(0)
    expect(duplicates).toBeLessThanOrEqual(metrics.retried)
    expect(duplicates).toBeLessThanOrEqual(2 * batchSize * maxInFlight)
    expect(metrics.confirmed).toBeGreaterThanOrEqual(total)
    console.log(JSON.stringify({ test: 'outage', total, duplicates, retried: metrics.retried, failedBatches: metrics.failedBatches }))
  }, 120_000)

  it('loses nothing when a relay dies mid-batch: a second relay reclaims and delivers everything', async () => {
    const { ctx, exchanges, consumer, broker, emitter } = await setup('crash')
    const total = 2_000
    for (let i = 0; i < total / 100; i++) await emit(emitter, Array.from({ length: 100 }, (_, j) => lifecycle({ n: i * 100 + j })))
    const proxy = await startTcpProxy(5672)
    cleanups.push(() => proxy.close())
    const doomedBroker = createAmqpBroker(`amqp://guest:guest@127.0.0.1:${proxy.port}`, { retryBaseMs: 60_000 })
    cleanups.push(() => doomedBroker.close())
    let crashed: Promise<void> | undefined
    const doomed: Relay = startRelay(ctx, {
      broker: doomedBroker,
      exchanges,
      consumer: 'relay-doomed',
      batchSize: 100,
      metrics: createEventMetrics(),
      onPublished: () => {
        if (crashed) return
        // The process "dies" with a batch published but unconfirmed: its connection goes, it never acks.
        proxy.blackhole()
        proxy.cut()
        crashed = doomed.stop()
      },
    })
    expect(await waitFor(async () => crashed !== undefined, 10_000, 10)).toBe(true)
    await crashed
    const pending = asArray(await ctx.store.call(['XPENDING', ctx.keys.outbox, RELAY_GROUP]))
    expect(Number(pending[0])).toBeGreaterThan(0) // the dead relay left a batch pending

    const survivor = relayOn(ctx, exchanges, { broker, consumer: 'relay-survivor', claimIdleMs: 500, claimEveryMs: 100, pruneIdleMs: 500 })
    expect(await waitFor(async () => consumer.seen.size === total, 30_000, 50)).toBe(true)
    expect(await waitFor(async () => Number(await ctx.store.call(['XLEN', ctx.keys.outbox])) === 0, 10_000, 50)).toBe(true)
    expect(asArray(await ctx.store.call(['XPENDING', ctx.keys.outbox, RELAY_GROUP]))[0]).toBe(0)
    expect(survivor.stats().retried).toBeGreaterThanOrEqual(Number(pending[0]))
    // With nothing left pending, the dead relay's consumer is removed from the group.
    const consumers = async () => asArray(await ctx.store.call(['XINFO', 'CONSUMERS', ctx.keys.outbox, RELAY_GROUP])).map((c) => String(asArray(c)[1]))
    expect(await waitFor(async () => JSON.stringify(await consumers()) === '["relay-survivor"]', 10_000, 50)).toBe(true)
  })
})
