import { afterEach, describe, expect, it } from 'vitest'
import { createAmqpBroker } from '../../shared/events/amqp-broker.ts'
import { emit, InvalidEventError } from '../../shared/events/outbox.ts'
import { drainOutbox, startRelay, type Relay } from '../../shared/events/relay.ts'
import { stamp, type LifecycleEvent, type OutboundEvent } from '../../shared/events/schemas.ts'
import type { ExchangeNames } from '../../shared/events/topology.ts'
import { createEventMetrics } from '../../shared/events/metrics.ts'
import type { Context } from '../../shared/context.ts'
import { collect, deleteExchanges, uniqueExchanges, type Collector } from '../support/amqp.ts'
import { disposeContext, RABBITMQ, testContext } from '../support/context.ts'
import { waitFor } from '../support/services.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
})

async function setup(label: string) {
  const ctx = testContext({ ORCHESTRATOR_RABBITMQ_CONNECTION: RABBITMQ })
  const exchanges = uniqueExchanges(label)
  const consumer = await collect(exchanges)
  await waitFor(async () => (await ctx.store.ping(), true), 10_000, 20)
  cleanups.push(() => disposeContext(ctx), () => deleteExchanges(exchanges), () => consumer.close())
  return { ctx, exchanges, consumer, emitter: { store: ctx.store, keys: ctx.keys, exchanges, metrics: createEventMetrics() } }
}

const lifecycle = (data: Record<string, unknown> = {}): OutboundEvent => ({ kind: 'lifecycle', event: stamp({ type: 'topology.changed' as const, source: 'orchestrator' as const, data }) as LifecycleEvent })

function relayOn(ctx: Context, exchanges: ExchangeNames, extra: Parameters<typeof startRelay>[1] = {}): Relay {
  const relay = startRelay(ctx, { exchanges, metrics: createEventMetrics(), ...extra })
  cleanups.push(() => relay.stop())
  return relay
}

describe('outbox relay → RabbitMQ', () => {
  it('round trip: each kind arrives on its exchange with its routing key, payload and properties', async () => {
    const { ctx, exchanges, consumer, emitter } = await setup('rt')
    relayOn(ctx, exchanges)
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
    const { ctx, exchanges, consumer, emitter } = await setup('task')
    for (let i = 0; i < 5; i++) await emit(emitter, Array.from({ length: 100 }, (_, j) => lifecycle({ i, j })))
    const result = await drainOutbox(ctx, { exchanges, batchSize: 64, metrics: createEventMetrics() })
    expect(result).toMatchObject({ drained: true, published: 500, confirmed: 500, retried: 0 })
    expect(await waitFor(async () => consumer.seen.size === 500, 10_000, 20)).toBe(true)
    expect(await ctx.store.call(['XLEN', ctx.keys.outbox])).toBe(0)
  })
})
