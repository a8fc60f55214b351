import * as v from 'valibot'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { functions } from '../../functions/index.ts'
import type { Context } from '../../shared/context.ts'
import { defineFunction } from '../../shared/function.ts'
import { buildApp } from '../../shared/http/app.ts'
import { reconcileHeartbeatIndex } from '../../shared/heartbeats/reconcile.ts'
import { createLogger } from '../../shared/log.ts'
import { disposeContext, RABBITMQ, testContext } from '../support/context.ts'

const beat = (serviceId: string, appId: string, status = 'healthy', extra: Record<string, unknown> = {}) => ({
  eventId: crypto.randomUUID(),
  timestamp: new Date().toISOString(),
  serviceId,
  appId,
  status,
  ...extra,
})

function harness(env: Record<string, string> = {}, clock?: { now: () => number }) {
  const ctx = testContext(env, clock ? { clock } : {})
  const app = buildApp(functions, ctx)
  const post = (path: string, body: unknown) =>
    app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
  return { ctx, app, post }
}

describe('infrastructure health', () => {
  let h: ReturnType<typeof harness>
  afterEach(async () => disposeContext(h.ctx))

  it('is healthy with the real Redis and RabbitMQ', async () => {
    h = harness({ ORCHESTRATOR_RABBITMQ_CONNECTION: RABBITMQ })
    // The broker connects in the background (wait-on-startup); poll the endpoint until it reports it.
    let body: { status: string; components: { name: string; status: string; latencyMs: number | null }[] } | undefined
    for (let i = 0; i < 50; i++) {
      const res = await h.app.request('/orchestrator/health/infrastructure')
      body = await res.json()
      if (body!.status === 'healthy') break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(body!.status).toBe('healthy')
    const byName = Object.fromEntries(body!.components.map((c) => [c.name, c]))
    expect(byName.redis!.status).toBe('healthy')
    expect(byName.redis!.latencyMs).toBeGreaterThanOrEqual(0)
    expect(byName.rabbitmq!.status).toBe('healthy')
    expect(byName['dapr-placement']!.status).toBe('not-configured')
    // The short alias answers the same way.
    expect((await h.app.request('/orchestrator/health')).status).toBe(200)
  })

  it('is unhealthy (503) when Redis is unreachable, and answers within the check bound', async () => {
    h = harness({ ORCHESTRATOR_REDIS_CONNECTION: '127.0.0.1:1' })
    const start = Date.now()
    const res = await h.app.request('/orchestrator/health/infrastructure')
    expect(res.status).toBe(503)
    expect(Date.now() - start).toBeLessThan(5000)
    const body = await res.json()
    expect(body.status).toBe('unhealthy')
    expect(body.components.find((c: { name: string }) => c.name === 'redis').status).toBe('unhealthy')
  })

  it('is degraded (200) when only RabbitMQ is down', async () => {
    h = harness({ ORCHESTRATOR_RABBITMQ_CONNECTION: 'amqp://guest:guest@127.0.0.1:1' })
    const res = await h.app.request('/orchestrator/health/infrastructure')
    expect(res.status).toBe(200)
    expect((await res.json()).status).toBe('degraded')
  })
})

describe('service health from heartbeats', () => {
  let h: ReturnType<typeof harness>
  afterEach(async () => disposeContext(h.ctx))

  it('aggregates worst case per service and reports capacity and last-seen age', async () => {
    h = harness()
    const cap = (cur: number, cpu: number) => ({ capacity: { maxConnections: 100, currentConnections: cur, cpuUsage: cpu, memoryUsage: 0.5 } })
    for (const b of [
      beat('auth', 'bannou-auth-1', 'healthy', cap(10, 0.2)),
      beat('auth', 'bannou-auth-2', 'healthy', cap(30, 0.4)),
      beat('behavior', 'npc-omega-1', 'healthy'),
      beat('behavior', 'npc-omega-2', 'overloaded'),
      beat('connect', 'bannou', 'shutting_down'),
    ]) {
      expect((await h.post('/orchestrator/heartbeats', b)).status).toBe(200)
    }
    const res = await h.app.request('/orchestrator/health/services')
    const body = await res.json()
    const s = Object.fromEntries(body.services.map((x: { serviceName: string }) => [x.serviceName, x]))
    expect(s.auth).toMatchObject({ status: 'healthy', counts: { total: 2, healthy: 2 }, capacity: { maxConnections: 200, currentConnections: 40, avgCpuUsage: 0.3, avgMemoryUsage: 0.5 } })
    expect(s.behavior).toMatchObject({ status: 'degraded', counts: { total: 2, healthy: 1, degraded: 1 } })
    expect(s.connect.status).toBe('degraded')
    expect(body.status).toBe('degraded')
    expect(s.auth.lastSeenAgeSeconds).toBeLessThan(5)

    const one = await (await h.app.request('/orchestrator/services?service=auth')).json()
    expect(one.services.map((x: { serviceName: string }) => x.serviceName)).toEqual(['auth'])
  })

  it('an instance whose key expired is unavailable; a service is unavailable only when all are', async () => {
    h = harness({ ORCHESTRATOR_HEARTBEAT_TIMEOUT: '1' })
    await h.post('/orchestrator/heartbeats', beat('accounts', 'a-1'))
    await h.post('/orchestrator/heartbeats', beat('accounts', 'a-2'))
    // Keep a-2 alive with a long TTL written the way any service would.
    await h.ctx.store.call(['SET', h.ctx.keys.heartbeat('accounts', 'a-2'), JSON.stringify(beat('accounts', 'a-2')), 'EX', 90])
    let body: { services: { status: string; instances: { appId: string; status: string }[] }[] } | undefined
    for (let i = 0; i < 40; i++) {
      body = await (await h.app.request('/orchestrator/health/services?service=accounts')).json()
      if (body!.services[0]!.instances.some((x) => x.status === 'unavailable')) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(body!.services[0]!.status).toBe('degraded')
    expect(body!.services[0]!.instances.find((x) => x.appId === 'a-1')!.status).toBe('unavailable')
    await h.ctx.store.call(['DEL', h.ctx.keys.heartbeat('accounts', 'a-2')])
    body = await (await h.app.request('/orchestrator/health/services?service=accounts')).json()
    expect(body!.services[0]!.status).toBe('unavailable')
  })

  it('malformed heartbeat JSON in Redis shows as invalid, never breaks the read', async () => {
    h = harness()
    await h.post('/orchestrator/heartbeats', beat('website', 'w-1'))
    await h.ctx.store.call(['SET', h.ctx.keys.heartbeat('website', 'w-1'), '{not json', 'EX', 90])
    await h.post('/orchestrator/heartbeats', beat('website', 'w-2'))
    await h.ctx.store.call(['SET', h.ctx.keys.heartbeat('website', 'w-2'), JSON.stringify({ serviceId: 'website', status: 'sleepy' }), 'EX', 90])
    const res = await h.app.request('/orchestrator/health/services')
    expect(res.status).toBe(200)
    const instances = (await res.json()).services[0].instances
    expect(instances.map((i: { status: string }) => i.status)).toEqual(['invalid', 'invalid'])
    expect(instances[0].problem).toMatch(/not JSON/)
    expect(instances[1].problem).toMatch(/status/)
  })

  it('heartbeats written by any client with a plain SET show up after one reconcile pass, both key forms', async () => {
    h = harness()
    await h.ctx.store.call(['SET', h.ctx.keys.heartbeat('permissions', 'bannou'), JSON.stringify(beat('permissions', 'bannou')), 'EX', 90])
    await h.ctx.store.call(['SET', h.ctx.keys.heartbeatFromMember('bannou-solo'), JSON.stringify(beat('testing', 'bannou-solo', 'degraded')), 'EX', 90])
    expect((await (await h.app.request('/orchestrator/health/services')).json()).services).toEqual([])
    let done = false
    for (let i = 0; i < 1000 && !done; i++) {
      done = (await reconcileHeartbeatIndex({ store: h.ctx.store, keys: h.ctx.keys, now: Date.now }, { count: 5000 })).passComplete
    }
    const body = await (await h.app.request('/orchestrator/health/services')).json()
    const s = Object.fromEntries(body.services.map((x: { serviceName: string }) => [x.serviceName, x]))
    expect(s.permissions.status).toBe('healthy')
    expect(s.testing).toMatchObject({ status: 'degraded', instances: [{ appId: 'bannou-solo', serviceId: 'testing' }] })
  })
})

describe('should-restart (the reference table)', () => {
  let h: ReturnType<typeof harness>
  let now = Date.now()
  const clock = { now: () => now }
  beforeAll(() => {
    h = harness({ ORCHESTRATOR_DEGRADATION_THRESHOLD: '5' }, clock)
  })
  afterAll(async () => disposeContext(h.ctx))
  const ask = async (serviceName: string) => (await h.post('/orchestrator/services/should-restart', { serviceName })).json()

  it('healthy → no restart', async () => {
    await h.post('/orchestrator/heartbeats', beat('auth', 'x-1'))
    expect(await ask('auth')).toMatchObject({ shouldRestart: false, currentStatus: 'healthy' })
  })
  it('degraded under the threshold → no restart (transient)', async () => {
    await h.post('/orchestrator/heartbeats', beat('auth', 'x-1', 'degraded'))
    const r = await ask('auth')
    expect(r).toMatchObject({ shouldRestart: false, currentStatus: 'degraded', degradedDurationSeconds: 0 })
    now += 4 * 60_000
    expect(await ask('auth')).toMatchObject({ shouldRestart: false, degradedDurationSeconds: 240 })
  })
  it('degraded over the threshold → restart', async () => {
    now += 2 * 60_000
    const r = await ask('auth')
    expect(r).toMatchObject({ shouldRestart: true, currentStatus: 'degraded', degradedDurationSeconds: 360, thresholdMinutes: 5 })
    expect(r.reason).toMatch(/over the 5 min threshold/)
  })
  it('healthy again clears the degraded mark', async () => {
    await h.post('/orchestrator/heartbeats', beat('auth', 'x-1'))
    expect(await ask('auth')).toMatchObject({ shouldRestart: false, degradedSince: null })
    await h.post('/orchestrator/heartbeats', beat('auth', 'x-1', 'degraded'))
    expect(await ask('auth')).toMatchObject({ shouldRestart: false, degradedDurationSeconds: 0 })
  })
  it('unavailable → restart', async () => {
    await h.post('/orchestrator/heartbeats', beat('behavior', 'b-1'))
    await h.ctx.store.call(['DEL', h.ctx.keys.heartbeat('behavior', 'b-1')])
    expect(await ask('behavior')).toMatchObject({ shouldRestart: true, currentStatus: 'unavailable' })
    expect(await ask('never-seen')).toMatchObject({ shouldRestart: true, currentStatus: 'unavailable', reason: expect.stringMatching(/no instance/) })
  })
})

describe('errors are problem+json', () => {
  let h: ReturnType<typeof harness>
  beforeAll(() => {
    h = harness()
  })
  afterAll(async () => disposeContext(h.ctx))

  const malformed: [string, string, RequestInit?][] = [
    ['POST', '/orchestrator/heartbeats', { body: '' }],
    ['POST', '/orchestrator/heartbeats', { body: '{' }],
    ['POST', '/orchestrator/heartbeats', { body: '[]' }],
    ['POST', '/orchestrator/heartbeats', { body: '"text"' }],
    ['POST', '/orchestrator/heartbeats', { body: 'null' }],
    ['POST', '/orchestrator/heartbeats', { body: '42' }],
    ['POST', '/orchestrator/heartbeats', { body: JSON.stringify({ ...beat('a', 'b'), status: 'sleepy' }) }],
    ['POST', '/orchestrator/heartbeats', { body: JSON.stringify({ ...beat('a', 'b'), timestamp: 'yesterday' }) }],
    ['POST', '/orchestrator/heartbeats', { body: JSON.stringify({ ...beat('a', 'b'), eventId: '' }) }],
    ['POST', '/orchestrator/heartbeats', { body: JSON.stringify({ ...beat('a', 'b'), serviceId: 'has space' }) }],
    ['POST', '/orchestrator/heartbeats', { body: JSON.stringify({ ...beat('a', 'b'), appId: '' }) }],
    ['POST', '/orchestrator/heartbeats', { body: JSON.stringify({ ...beat('a', 'b'), capacity: { cpuUsage: 7 } }) }],
    ['POST', '/orchestrator/heartbeats', { body: JSON.stringify({ ...beat('a', 'b'), capacity: { maxConnections: -1 } }) }],
    ['POST', '/orchestrator/heartbeats', { body: JSON.stringify({ ...beat('a', 'b'), capacity: 'full' }) }],
    ['POST', '/orchestrator/heartbeats', { body: JSON.stringify({ serviceId: 'a' }) }],
    ['POST', '/orchestrator/heartbeats', { body: '{"eventId":1e999}' }],
    ['POST', '/orchestrator/services/should-restart', { body: '{}' }],
    ['POST', '/orchestrator/services/should-restart', { body: '{"serviceName":""}' }],
    ['POST', '/orchestrator/services/should-restart', { body: '{"serviceName":12}' }],
    ['POST', '/orchestrator/services/should-restart', { body: '{"serviceName":["auth"]}' }],
    ['POST', '/orchestrator/services/should-restart', { body: JSON.stringify({ serviceName: 'x'.repeat(500) }) }],
    ['POST', '/orchestrator/services/should-restart', { body: '{"serviceName":"../etc"}' }],
    ['POST', '/orchestrator/services/should-restart', { body: '{"serviceName":"a b"}' }],
    ['POST', '/orchestrator/services/should-restart', { body: '{"serviceName":null}' }],
    ['POST', '/orchestrator/services/should-restart', { body: '<xml/>' }],
    ['GET', '/orchestrator/health/services?service=has%20space'],
    ['GET', `/orchestrator/health/services?service=${'y'.repeat(300)}`],
    ['GET', '/orchestrator/does-not-exist'],
    ['DELETE', '/orchestrator/presets'],
    ['GET', '/orchestrator/services/should-restart'],
  ]

  it(`rejects ${malformed.length} malformed requests with 4xx problem+json naming what is wrong`, async () => {
    expect(malformed.length).toBe(30)
    for (const [method, path, init] of malformed) {
      const res = await h.app.request(path, { method, headers: { 'content-type': 'application/json' }, ...init })
      expect(res.status, `${method} ${path} ${init?.body ?? ''}`).toBeGreaterThanOrEqual(400)
      expect(res.status).toBeLessThan(500)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      const body = await res.json()
      expect(body).toMatchObject({ type: expect.any(String), title: expect.any(String), status: res.status, detail: expect.any(String) })
      if (res.status === 400) expect(body.errors.length).toBeGreaterThan(0)
    }
  })

  it('names each bad field', async () => {
    const res = await h.post('/orchestrator/heartbeats', { ...beat('a', 'b'), status: 'sleepy', timestamp: 'nope' })
    const body = await res.json()
    expect(body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['status', 'timestamp'])
  })

  it('nothing is written for a rejected heartbeat', async () => {
    await h.post('/orchestrator/heartbeats', { ...beat('ghost', 'g-1'), status: 'sleepy' })
    expect(await h.ctx.store.call(['EXISTS', h.ctx.keys.heartbeat('ghost', 'g-1'), h.ctx.keys.serviceHeartbeatIndex('ghost')])).toBe(0)
  })

  it('echoes x-request-id, and an unexpected error is a 500 without a stack, logged with that id', async () => {
    const lines: string[] = []
    const ctx = { ...h.ctx, log: createLogger('debug', (l) => lines.push(l)) } as Context
    const boom = defineFunction({
      name: 'boom', method: 'GET', path: '/boom', permission: 'viewer', runtime: 'edge', summary: 'test',
      input: v.object({}), output: v.object({}),
      handler: async () => {
        throw new Error('secret internals')
      },
    })
    const app = buildApp([boom], ctx)
    const res = await app.request('/boom', { headers: { 'x-request-id': 'req-123' } })
    expect(res.status).toBe(500)
    expect(res.headers.get('x-request-id')).toBe('req-123')
    const text = await res.text()
    expect(text).not.toContain('secret internals')
    expect(JSON.parse(text)).toMatchObject({ status: 500, requestId: 'req-123' })
    expect(lines.some((l) => l.includes('req-123') && l.includes('secret internals'))).toBe(true)
    const generated = await app.request('/boom')
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })
})
