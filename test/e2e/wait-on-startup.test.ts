import { afterEach, describe, expect, it } from 'vitest'
import { startNodeServer, type RunningServer } from '../../deploy/serve-node.ts'
import { silentLogger } from '../../shared/log.ts'
import { deletePrefix, uniquePrefix } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts'

const env = (redis: string, prefix: string) => ({
  ORCHESTRATOR_REDIS_CONNECTION: redis,
  ORCHESTRATOR_KEY_PREFIX: prefix,
  ORCHESTRATOR_PORT: '0',
  ORCHESTRATOR_LISTEN_HOST: '127.0.0.1',
  ORCHESTRATOR_LOG_LEVEL: 'silent',
})

const heartbeat = () => ({
  eventId: crypto.randomUUID(),
  timestamp: new Date().toISOString(),
  serviceId: 'auth',
  appId: 'bannou',
  status: 'healthy',
})

describe('wait-on-startup and reconnect (real server, real Redis behind a TCP proxy)', () => {
  let server: RunningServer | undefined
  let proxy: TcpProxy | undefined
  const prefix = uniquePrefix('wait')
  afterEach(async () => {
    await server?.close()
    await proxy?.close()
    await deletePrefix(prefix)
  })

  it('starts and answers while Redis is unreachable: 503 problem+json with Retry-After, quickly', async () => {
    server = await startNodeServer(env('127.0.0.1:1', prefix), { quiet: true, overrides: { log: silentLogger } })
    const start = Date.now()
    const res = await fetch(`${server.url}/orchestrator/health/services`)
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect((await res.json()).type).toBe('urn:bannou:problem:redis-unavailable')
    expect(Date.now() - start).toBeLessThan(3000)
    // Endpoints that need no Redis keep working.
    expect((await fetch(`${server.url}/orchestrator/presets`)).status).toBe(200)
    expect((await fetch(`${server.url}/orchestrator/health`)).status).toBe(503)
  })

  it('serves again by itself after the connection is cut and restored; a half-open link never hangs a request', async () => {
    proxy = await startTcpProxy(6379)
    server = await startNodeServer(env(proxy.address, prefix), { quiet: true, overrides: { log: silentLogger } })
    const post = () => fetch(`${server!.url}/orchestrator/heartbeats`, { method: 'POST', body: JSON.stringify(heartbeat()) })
    expect((await post()).status).toBe(200)

    proxy.cut()
    expect(await waitFor(async () => (await post()).status === 503, 5000)).toBe(true)

    proxy.restore()
    expect(await waitFor(async () => (await post()).status === 200, 20_000, 250)).toBe(true)

    proxy.blackhole()
    const start = Date.now()
    const res = await fetch(`${server.url}/orchestrator/health/services`)
    expect(res.status).toBe(503)
    expect(Date.now() - start).toBeLessThan(8000)
    proxy.restore()
  })

  it('a bad configuration stops startup with one message naming every bad variable', async () => {
    const failure = await startNodeServer({ ORCHESTRATOR_PORT: 'x', ORCHESTRATOR_HEARTBEAT_TIMEOUT: '-1', ORCHESTRATOR_STORE: 'mongo' }, { quiet: true }).catch((e: Error) => e)
    expect(failure).toBeInstanceOf(Error)
    for (const variable of ['ORCHESTRATOR_PORT', 'ORCHESTRATOR_HEARTBEAT_TIMEOUT', 'ORCHESTRATOR_STORE']) {
      expect((failure as Error).message).toContain(variable)
    }
  })
})
