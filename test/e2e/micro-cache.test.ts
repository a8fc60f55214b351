import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeServer, type RunningServer } from '../../deploy/serve-node.ts'
import { silentLogger } from '../../shared/log.ts'
import { deletePrefix, REDIS, uniquePrefix } from '../support/context.ts'

const beat = (appId: string, status = 'healthy') => ({ eventId: crypto.randomUUID(), timestamp: new Date().toISOString(), serviceId: 'auth', appId, status })

describe('HTTP micro-cache of the Node server', () => {
  let server: RunningServer
  let now = 1_000_000
  const prefix = uniquePrefix('micro')
  beforeAll(async () => {
    server = await startNodeServer(
      { ORCHESTRATOR_REDIS_CONNECTION: REDIS, ORCHESTRATOR_KEY_PREFIX: prefix, ORCHESTRATOR_PORT: '0', ORCHESTRATOR_LISTEN_HOST: '127.0.0.1', ORCHESTRATOR_HEALTH_CACHE_MS: '1000' },
      { quiet: true, scheduler: false, overrides: { log: silentLogger, clock: { now: () => now } } },
    )
  })
  afterAll(async () => {
    await server.close()
    await deletePrefix(prefix)
  })
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${server.url}${path}`, { headers })
  const post = (body: unknown) => fetch(`${server.url}/orchestrator/heartbeats`, { method: 'POST', body: JSON.stringify(body) })

  it('serves a repeated health read from memory within the window, with its own request id, and refreshes after it', async () => {
    await post(beat('a-1'))
    const first = await get('/orchestrator/health/services?service=auth')
    expect(first.headers.get('x-orchestrator-cache')).toBeNull()
    const firstBody = await first.json()
    expect(firstBody.services[0].counts.total).toBe(1)

    await post(beat('a-2'))
    const hit = await get('/orchestrator/health/services?service=auth', { 'x-request-id': 'mine-1' })
    expect(hit.headers.get('x-orchestrator-cache')).toBe('hit')
    expect(hit.headers.get('x-request-id')).toBe('mine-1')
    expect(await hit.json()).toEqual(firstBody)

    now += 1000
    const fresh = await get('/orchestrator/health/services?service=auth')
    expect(fresh.headers.get('x-orchestrator-cache')).toBeNull()
    expect((await fresh.json()).services[0].counts.total).toBe(2)
  })

  it('never serves or stores requests with credentials, other paths, or errors', async () => {
    await get('/orchestrator/health/services?service=auth')
    expect((await get('/orchestrator/health/services?service=auth', { authorization: 'Bearer x' })).headers.get('x-orchestrator-cache')).toBeNull()
    await get('/orchestrator/presets')
    expect((await get('/orchestrator/presets')).headers.get('x-orchestrator-cache')).toBeNull()
    await get('/orchestrator/health/services?service=bad%20name')
    const again = await get('/orchestrator/health/services?service=bad%20name')
    expect(again.status).toBe(400)
    expect(again.headers.get('x-orchestrator-cache')).toBeNull()
  })
})
