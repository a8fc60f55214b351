import { describe, expect, it } from 'vitest'
import { VERSION } from '../../shared/context.ts'

/**
 * ONE HTTP suite over every edge-safe function, run unchanged against the combined Node
 * server, each bundle inside workerd (miniflare) and the combined server under Deno.
 * `call` names the function that owns the route so single-function targets can route it;
 * combined targets ignore the name.
 */
export interface HttpTarget {
  call(fn: string, path: string, init?: RequestInit): Promise<Response>
}

const BUILTIN_PRESETS = ['distributed-npc', 'edge-testing', 'http-testing', 'local-development', 'local-testing', 'production-split', 'split-auth-accounts']

const post = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

async function problemOf(res: Response) {
  expect(res.headers.get('content-type')).toContain('application/problem+json')
  return (await res.json()) as { status: number; title: string; detail: string; errors?: { field: string; message: string }[] }
}

export interface SuiteOptions {
  /**
   * Whether the runtime drives a container backend (Node, Deno). Without one (workerd) restart
   * requests are queued in Redis for a Node orchestrator and container status comes from Redis.
   */
  backend: boolean
}

export function defineHttpSuite(runtime: string, target: () => HttpTarget, opts: SuiteOptions) {
  describe(`edge-safe functions over HTTP on ${runtime}`, () => {
    const service = `pkg${Math.random().toString(36).slice(2, 8)}`
    const heartbeat = (over: Record<string, unknown> = {}) => ({
      eventId: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      serviceId: service,
      appId: `${service}-app-1`,
      status: 'healthy',
      capacity: { maxConnections: 100, currentConnections: 3, cpuUsage: 0.1, memoryUsage: 0.2 },
      ...over,
    })

    it('health-infrastructure: GET /orchestrator/health and /health/infrastructure report Redis healthy', async () => {
      for (const path of ['/orchestrator/health', '/orchestrator/health/infrastructure']) {
        const res = await target().call('health-infrastructure', path)
        expect(res.status).toBe(200)
        const body = (await res.json()) as { status: string; components: { name: string; status: string }[] }
        expect(body.status).toBe('healthy')
        expect(body.components.find((c) => c.name === 'redis')?.status).toBe('healthy')
        expect(body.components.find((c) => c.name === 'rabbitmq')?.status).toBe('not-configured')
      }
    })

    it('status: version and persistent mode', async () => {
      const res = await target().call('status', '/orchestrator/status')
      expect(res.status).toBe(200)
      expect(res.headers.get('x-request-id')).toBeTruthy()
      const body = (await res.json()) as { service: string; version: string; mode: string; uptimeSeconds: number }
      expect(body).toMatchObject({ service: 'bannou-orchestrator', version: VERSION, mode: 'persistent' })
      expect(body.uptimeSeconds).toBeGreaterThanOrEqual(0)
    })

    it('presets: the seven built-ins, no problems', async () => {
      const res = await target().call('presets', '/orchestrator/presets')
      expect(res.status).toBe(200)
      const body = (await res.json()) as { presets: { name: string; nodes: unknown[] }[]; problems: unknown[] }
      expect(body.presets.map((p) => p.name)).toEqual(BUILTIN_PRESETS)
      expect(body.problems).toEqual([])
    })

    it('heartbeats: accepts a ServiceHeartbeatEvent and rejects a bad one naming the fields', async () => {
      const ok = await target().call('heartbeats', '/orchestrator/heartbeats', post(heartbeat()))
      expect(ok.status).toBe(200)
      const accepted = (await ok.json()) as { accepted: boolean; key: string; ttlSeconds: number }
      expect(accepted.accepted).toBe(true)
      expect(accepted.key).toContain(`service:heartbeat:${service}:${service}-app-1`)

      const bad = await target().call('heartbeats', '/orchestrator/heartbeats', post(heartbeat({ status: 'sleepy', eventId: undefined })))
      expect(bad.status).toBe(400)
      const problem = await problemOf(bad)
      expect(problem.errors?.map((e) => e.field).sort()).toEqual(['eventId', 'status'])
    })

    it('health-services: the service that just sent a heartbeat is healthy', async () => {
      const res = await target().call('health-services', `/orchestrator/health/services?service=${service}`)
      expect(res.status).toBe(200)
      const body = (await res.json()) as { services: { serviceName: string; status: string; instances: unknown[] }[] }
      expect(body.services).toHaveLength(1)
      expect(body.services[0]).toMatchObject({ serviceName: service, status: 'healthy' })
      expect(body.services[0]!.instances).toHaveLength(1)

      const invalid = await target().call('health-services', '/orchestrator/health/services?service=no%20spaces')
      expect(invalid.status).toBe(400)
      expect((await problemOf(invalid)).errors?.[0]?.field).toBe('service')
    })

    it('should-restart: healthy -> no, never seen -> yes, bad name -> 400', async () => {
      const healthy = await target().call('should-restart', '/orchestrator/services/should-restart', post({ serviceName: service }))
      expect(healthy.status).toBe(200)
      expect(await healthy.json()).toMatchObject({ serviceName: service, shouldRestart: false, currentStatus: 'healthy' })

      const unseen = await target().call('should-restart', '/orchestrator/services/should-restart', post({ serviceName: `${service}-never` }))
      expect(await unseen.json()).toMatchObject({ shouldRestart: true, currentStatus: 'unavailable' })

      const bad = await target().call('should-restart', '/orchestrator/services/should-restart', post({ serviceName: '' }))
      expect(bad.status).toBe(400)
      expect((await problemOf(bad)).errors?.[0]?.field).toBe('serviceName')

      const notJson = await target().call('should-restart', '/orchestrator/services/should-restart', { method: 'POST', body: '{oops' })
      expect(notJson.status).toBe(400)
      expect((await problemOf(notJson)).errors?.[0]?.field).toBe('(body)')
    })

    it('request-restart and container-status validate input, naming the field', async () => {
      const badPriority = await target().call('request-restart', `/orchestrator/containers/${service}-app-1/request-restart`, post({ priority: 'sometime' }))
      expect(badPriority.status).toBe(400)
      expect((await problemOf(badPriority)).errors?.map((e) => e.field)).toEqual(['priority'])
      const badName = await target().call('request-restart', '/orchestrator/containers/no%20spaces/request-restart', post({}))
      expect(badName.status).toBe(400)
      expect((await problemOf(badName)).errors?.map((e) => e.field)).toEqual(['appName'])
      const badStatus = await target().call('container-status', '/orchestrator/containers/no%20spaces/status')
      expect(badStatus.status).toBe(400)
      expect((await problemOf(badStatus)).errors?.map((e) => e.field)).toEqual(['appName'])
    })

    if (opts.backend) {
      it('request-restart resolves the app through the backend first: an app that runs nowhere is refused, nothing is queued', async () => {
        const res = await target().call('request-restart', `/orchestrator/containers/${service}-nowhere/request-restart`, post({ reason: 'test' }))
        // 404 with a reachable engine, 503 without one; never 202.
        expect([404, 503]).toContain(res.status)
        await problemOf(res)
        const status = await target().call('container-status', `/orchestrator/containers/${service}-nowhere/status`)
        expect([404, 503]).toContain(status.status)
      })
    } else {
      it('request-restart is queued in Redis for the Node side, coalesces, and container status shows it with health from heartbeats', async () => {
        const appId = `${service}-app-1`
        const first = await target().call('request-restart', `/orchestrator/containers/${appId}/request-restart`, post({ reason: 'config changed' }))
        expect(first.status).toBe(202)
        expect(first.headers.get('location')).toBe(`/orchestrator/containers/${appId}/status`)
        const a = (await first.json()) as Record<string, unknown>
        expect(a).toMatchObject({ accepted: true, appName: appId, status: 'queued', environment: null, currentInstances: null, restartStrategy: 'rolling', requests: 1 })
        expect(Date.parse(String(a.scheduledFor))).toBeGreaterThan(Date.now() - 60_000)

        const second = await target().call('request-restart', `/orchestrator/containers/${appId}/request-restart`, post({ reason: 'again', priority: 'immediate' }))
        expect(second.status).toBe(202)
        expect(await second.json()).toMatchObject({ status: 'coalesced', restartId: a.restartId, requests: 2, priority: 'immediate' })

        const res = await target().call('container-status', `/orchestrator/containers/${appId}/status`)
        expect(res.status).toBe(200)
        const body = (await res.json()) as Record<string, any>
        expect(body).toMatchObject({ appName: appId, backend: null, health: 'healthy', instances: [], runningRestart: null, restartHistory: [] })
        expect(body.backendState).toMatch(/not visible from this runtime/)
        expect(body.services).toEqual([expect.objectContaining({ serviceName: service, status: 'healthy' })])
        expect(body.pendingRestart).toMatchObject({ id: a.restartId, unresolved: true, reasons: ['config changed', 'again'], requests: 2 })

        const unknown = await target().call('container-status', `/orchestrator/containers/${service}-nobody/status`)
        expect(unknown.status).toBe(404)
        await problemOf(unknown)
      })
    }

    it('an unknown path is a 404 problem+json', async () => {
      const res = await target().call('status', '/orchestrator/no-such-thing')
      expect(res.status).toBe(404)
      expect((await problemOf(res)).title).toBe('No such endpoint')
    })
  })
}
