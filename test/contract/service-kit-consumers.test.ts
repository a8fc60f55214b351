import { afterEach, describe, expect, it } from 'vitest'
import { createAmqpBroker } from '../../shared/events/amqp-broker.ts'
import { createLocalBus } from '../../shared/events/local-bus.ts'
import { createEventMetrics } from '../../shared/events/metrics.ts'
import { emit } from '../../shared/events/outbox.ts'
import { startRelay } from '../../shared/events/relay.ts'
import { stamp, type ServiceMappingEvent } from '../../shared/events/schemas.ts'
import { amqpEventSource } from '../../shared/service-kit/amqp-source.ts'
import { localEventSource } from '../../shared/service-kit/event-source.ts'
import { createUpstashStore } from '../../shared/store/drivers/upstash.ts'
import { startConfigListener } from '../../shared/service-kit/config-listener.ts'
import { startMappingResolver } from '../../shared/service-kit/mapping-resolver.ts'
import { deleteExchanges, uniqueExchanges } from '../support/amqp.ts'
import { disposeContext, RABBITMQ, testContext } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { startTcpProxy } from '../support/tcp-proxy.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
})

const at = (e: ServiceMappingEvent, iso: string): ServiceMappingEvent => ({ ...e, timestamp: iso })

describe('service-kit consumers on RabbitMQ', () => {
  it('resolver and config listener follow the orchestrator, dedupe, and rebind after a lost connection', async () => {
    const ctx = testContext()
    const exchanges = uniqueExchanges('kit')
    const broker = createAmqpBroker(RABBITMQ, { retryBaseMs: 100 })
    const proxy = await startTcpProxy(5672)
    const source = amqpEventSource(`amqp://guest:guest@127.0.0.1:${proxy.port}`, { retryBaseMs: 100, retryMaxMs: 400 })
    cleanups.push(() => disposeContext(ctx), () => deleteExchanges(exchanges), () => broker.close(), () => proxy.close(), () => source.close())
    await waitFor(async () => (await ctx.store.ping(), true), 10_000, 20)
    const relay = startRelay(ctx, { broker, exchanges, metrics: createEventMetrics() })
    cleanups.push(() => relay.stop())
    const emitter = { store: ctx.store, keys: ctx.keys, exchanges, metrics: createEventMetrics() }

    const changes: string[] = []
    const resolver = startMappingResolver({ source, exchange: exchanges.serviceMappings, onChange: (s, a) => void changes.push(`${s}=${a}`) })
    const heard: string[][] = []
    const listener = startConfigListener({ source, exchange: exchanges.configuration, onChange: (keys) => void heard.push(keys) })
    await Promise.all([resolver.ready, listener.ready])
    expect(resolver.getAppIdForService('auth')).toBe('bannou')

    const reg = at(stamp({ serviceName: 'auth', appId: 'bannou-auth', action: 'register' as const }), '2026-01-01T00:00:10.000Z')
    const older = at(stamp({ serviceName: 'auth', appId: 'stale-app', action: 'update' as const }), '2026-01-01T00:00:05.000Z')
    const cfg = stamp({ configVersion: 3, changedKeys: ['auth.jwt_secret'] })
    // The same event twice (a redelivery), then an older one.
    await emit(emitter, [{ kind: 'service-mapping', event: reg }, { kind: 'configuration', event: cfg }])
    await emit(emitter, [{ kind: 'service-mapping', event: reg }, { kind: 'service-mapping', event: older }, { kind: 'configuration', event: cfg }])
    const marker = stamp({ serviceName: 'marker', appId: 'm', action: 'register' as const })
    await emit(emitter, [{ kind: 'service-mapping', event: marker }])
    expect(await waitFor(async () => resolver.getAppIdForService('marker') === 'm', 10_000, 20)).toBe(true)
    expect(resolver.getAppIdForService('auth')).toBe('bannou-auth')
    expect(changes).toEqual(['auth=bannou-auth', 'marker=m'])
    expect(heard).toEqual([['auth.jwt_secret']])
    expect(listener.lastVersion()).toBe(3)

    // The consumers' connection dies; they reconnect and bind a new queue by themselves.
    proxy.cut()
    await new Promise((r) => setTimeout(r, 300))
    proxy.restore()
    const moved = stamp({ serviceName: 'auth', appId: 'npc-omega', action: 'update' as const })
    // Events emitted before the rebind would go to no queue, so keep emitting until one lands.
    expect(
      await waitFor(async () => {
        await emit(emitter, [{ kind: 'service-mapping', event: { ...moved, eventId: crypto.randomUUID(), timestamp: new Date().toISOString() } }])
        return resolver.getAppIdForService('auth') === 'npc-omega'
      }, 15_000, 300),
    ).toBe(true)
    await emit(emitter, [{ kind: 'service-mapping', event: stamp({ serviceName: 'auth', appId: 'npc-omega', action: 'unregister' as const }) }])
    expect(await waitFor(async () => resolver.getAppIdForService('auth') === 'bannou', 10_000, 20)).toBe(true)
  })
})

describe('service-kit resolver catching up from the routing cache', () => {
  it('a service started after the mapping events routes right at once; newer events still win, older ones lose', async () => {
    const ctx = testContext()
    cleanups.push(() => disposeContext(ctx))
    await waitFor(async () => (await ctx.store.ping(), true), 10_000, 20)
    const bus = createLocalBus()
    const exchanges = uniqueExchanges('catchup')
    const emitter = { store: ctx.store, keys: ctx.keys, exchanges, metrics: createEventMetrics() }
    // Mapping events went out while the service was not running: only the routing cache remembers them.
    const reg = at(stamp({ serviceName: 'auth', appId: 'bannou-auth', action: 'register' as const }), '2026-01-01T00:00:10.000Z')
    await emit(emitter, [{ kind: 'service-mapping', event: reg }, { kind: 'service-mapping', event: stamp({ serviceName: 'npc', appId: 'bannou-npc', action: 'register' as const }) }])
    await ctx.store.call(['SET', ctx.keys.routing('broken'), '{not json'])

    const changes: string[] = []
    const resolver = startMappingResolver({
      source: localEventSource(bus),
      exchange: exchanges.serviceMappings,
      routingCache: { store: ctx.store, keyPrefix: ctx.config.keyPrefix },
      onChange: (s, a) => void changes.push(`${s}=${a}`),
    })
    await resolver.ready
    expect(resolver.all()).toEqual({ auth: 'bannou-auth', npc: 'bannou-npc' })
    expect(changes.sort()).toEqual(['auth=bannou-auth', 'npc=bannou-npc'])

    const publish = (e: ServiceMappingEvent) => bus.publish({ exchange: exchanges.serviceMappings, routingKey: e.serviceName, body: JSON.stringify(e), messageId: e.eventId, timestamp: Date.now() })
    publish(at(stamp({ serviceName: 'auth', appId: 'stale-app', action: 'update' as const }), '2026-01-01T00:00:05.000Z'))
    publish(stamp({ serviceName: 'auth', appId: 'npc-omega', action: 'update' as const }))
    await new Promise((r) => setTimeout(r, 0)) // the bus delivers on a later tick, in order
    expect(changes.filter((c) => c.startsWith('auth='))).toEqual(['auth=bannou-auth', 'auth=npc-omega'])
    expect(resolver.getAppIdForService('auth')).toBe('npc-omega')
    await resolver.stop()
  })

  it('an unreadable cache leaves the resolver following events', async () => {
    const dead = createUpstashStore({ url: 'http://127.0.0.1:1', token: 't', timeoutMs: 200 })
    const resolver = startMappingResolver({ source: localEventSource(createLocalBus()), routingCache: { store: dead, attempts: 2 } })
    await resolver.ready
    expect(resolver.all()).toEqual({})
  })
})

