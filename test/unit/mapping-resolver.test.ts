import { describe, expect, it } from 'vitest'
import { createLocalBus, topicMatches } from '../../shared/events/local-bus.ts'
import { stamp } from '../../shared/events/schemas.ts'
import { localEventSource } from '../../shared/service-kit/event-source.ts'
import { createMappingTable, DEFAULT_APP_ID, startMappingResolver } from '../../shared/service-kit/mapping-resolver.ts'
import { startConfigListener } from '../../shared/service-kit/config-listener.ts'
import { waitFor } from '../support/services.ts'

const at = (iso: string) => ({ timestamp: new Date(iso).toISOString() })
const mapping = (serviceName: string, appId: string, action: 'register' | 'update' | 'unregister', when: string) =>
  ({ ...stamp({ serviceName, appId, action }), ...at(when) })

describe('mapping table (ServiceAppMappingResolver)', () => {
  it('defaults to "bannou" and applies register, update, unregister', () => {
    const t = createMappingTable()
    expect(DEFAULT_APP_ID).toBe('bannou')
    expect(t.getAppIdForService('auth')).toBe('bannou')
    expect(t.apply(mapping('auth', 'bannou-auth', 'register', '2026-01-01T00:00:01Z'))).toBe('applied')
    expect(t.getAppIdForService('auth')).toBe('bannou-auth')
    expect(t.apply(mapping('auth', 'npc-omega', 'update', '2026-01-01T00:00:02Z'))).toBe('applied')
    expect(t.getAppIdForService('auth')).toBe('npc-omega')
    expect(t.apply(mapping('auth', 'npc-omega', 'unregister', '2026-01-01T00:00:03Z'))).toBe('applied')
    expect(t.getAppIdForService('auth')).toBe('bannou')
  })

  it('ignores duplicate eventIds and events older than the last one applied', () => {
    const t = createMappingTable()
    const reg = mapping('accounts', 'app-a', 'register', '2026-01-01T00:00:10Z')
    const upd = mapping('accounts', 'app-b', 'update', '2026-01-01T00:00:20Z')
    expect(t.apply(reg)).toBe('applied')
    expect(t.apply(upd)).toBe('applied')
    // Redelivery of the first event after a reconnect: a duplicate.
    expect(t.apply(reg)).toBe('duplicate')
    // A different, older event arriving late: stale.
    expect(t.apply(mapping('accounts', 'app-old', 'update', '2026-01-01T00:00:15Z'))).toBe('stale')
    expect(t.getAppIdForService('accounts')).toBe('app-b')
    // Unregister, then an older register arrives late: the mapping stays gone.
    expect(t.apply(mapping('accounts', 'app-b', 'unregister', '2026-01-01T00:00:30Z'))).toBe('applied')
    expect(t.apply(mapping('accounts', 'app-zombie', 'register', '2026-01-01T00:00:25Z'))).toBe('stale')
    expect(t.getAppIdForService('accounts')).toBe('bannou')
    // Other services are independent.
    expect(t.apply(mapping('auth', 'x', 'register', '2026-01-01T00:00:01Z'))).toBe('applied')
    expect(t.all()).toEqual({ auth: 'x' })
  })

  it('rejects events that break the schema without touching the table', () => {
    const t = createMappingTable('fallback')
    expect(t.apply({ serviceName: 'auth', appId: 'x', action: 'move' })).toBe('invalid')
    expect(t.getAppIdForService('auth')).toBe('fallback')
  })
})

describe('in-process bus (embedded mode)', () => {
  it('matches AMQP topic patterns', () => {
    expect(topicMatches('#', 'a.b.c')).toBe(true)
    expect(topicMatches('deployment.*', 'deployment.succeeded')).toBe(true)
    expect(topicMatches('deployment.*', 'deployment.x.y')).toBe(false)
    expect(topicMatches('deployment.#', 'deployment')).toBe(true)
    expect(topicMatches('*.succeeded', 'deployment.succeeded')).toBe(true)
    expect(topicMatches('auth', 'accounts')).toBe(false)
  })

  it('feeds the resolver and the config listener', async () => {
    const bus = createLocalBus()
    const source = localEventSource(bus)
    const resolver = startMappingResolver({ source })
    const heard: string[][] = []
    const listener = startConfigListener({ source, onChange: (keys) => void heard.push(keys) })
    await Promise.all([resolver.ready, listener.ready])
    const e = stamp({ serviceName: 'auth', appId: 'bannou-auth', action: 'register' as const })
    bus.publish({ exchange: 'bannou-service-mappings', routingKey: 'auth', body: JSON.stringify(e), messageId: e.eventId, timestamp: Date.now() })
    const c = stamp({ configVersion: 1, changedKeys: ['auth.jwt_secret'] })
    for (let i = 0; i < 2; i++) bus.publish({ exchange: 'bannou-configuration', routingKey: '', body: JSON.stringify(c), messageId: c.eventId, timestamp: Date.now() })
    expect(await waitFor(async () => resolver.getAppIdForService('auth') === 'bannou-auth' && heard.length === 1, 2000, 5)).toBe(true)
    await new Promise((r) => setTimeout(r, 20))
    expect(heard).toEqual([['auth.jwt_secret']]) // the redelivery was dropped
    await source.close()
  })
})
