import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startUpstashProxy, type UpstashProxy } from '../../deploy/upstash-proxy.ts'
import { functions } from '../../functions/index.ts'
import { runTasksOnce } from '../../deploy/scheduler-function.ts'
import { loadConfig } from '../../shared/config.ts'
import { createContext, type Context } from '../../shared/context.ts'
import { buildApp } from '../../shared/http/app.ts'
import { silentLogger } from '../../shared/log.ts'
import { edgePlatform } from '../../shared/platform.ts'
import { cancelScheduledRestarts } from '../../shared/restarts/executor.ts'
import { disposeContext, REDIS } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { testDocker } from '../fixtures/images.ts'
import { deployHarness, labelled, outbox, removeEnvironment, testImages, uniqueEnv } from './deploy-support.ts'

/**
 * Issue 7: a restart requested on an edge runtime (no container backend; the Upstash REST
 * driver, as in workerd) is queued in Redis and executed by the Node side's restart-due task
 * on the real engine.
 */
const docker = testDocker()
const TOKEN = 'edge-restart-token'
let h: ReturnType<typeof deployHarness>
let proxy: UpstashProxy
let edge: Context
let edgeApp: ReturnType<typeof buildApp>
const envs: string[] = []

beforeAll(async () => {
  const images = await testImages(docker)
  h = deployHarness(images, { ORCHESTRATOR_RESTART_COALESCE_WINDOW: '0.5', ORCHESTRATOR_RESTART_HEALTH_TIMEOUT: '15' })
  await waitFor(async () => (await h.ctx.store.ping(), true), 10_000)
  proxy = await startUpstashProxy({ redis: REDIS, token: TOKEN })
  const config = loadConfig({
    ORCHESTRATOR_STORE: 'upstash',
    ORCHESTRATOR_UPSTASH_URL: proxy.url,
    ORCHESTRATOR_UPSTASH_TOKEN: TOKEN,
    ORCHESTRATOR_KEY_PREFIX: h.ctx.keys.prefix,
    ORCHESTRATOR_RESTART_COALESCE_WINDOW: '0.5',
    ORCHESTRATOR_LOG_LEVEL: 'silent',
  })
  edge = createContext(config, edgePlatform, { log: silentLogger })
  edgeApp = buildApp(functions, edge)
}, 120_000)

afterAll(async () => {
  cancelScheduledRestarts(h.ctx)
  for (const e of envs) await removeEnvironment(docker, e)
  await edge?.close()
  await proxy?.close()
  await disposeContext(h.ctx)
})

async function edgeCall(method: string, path: string, body?: unknown) {
  const res = await edgeApp.request(path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) })
  return { status: res.status, body: (await res.json()) as Record<string, any> }
}

async function deployApp(label: string) {
  const env = uniqueEnv(label)
  envs.push(env)
  const appId = `app-${env}`
  const topology = {
    name: 'edge-restart-test',
    nodes: [{ name: 'web', services: [`svc-${env}`], replicas: 1, daprAppId: appId, environment: { HEARTBEAT_INTERVAL_MS: '200' } }],
    infrastructure: { redis: { external: '127.0.0.1:6379' } },
  }
  const r = await h.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  return { env, appId }
}

/** The Node orchestrator's scheduler, as its interval loop would run it. */
async function nodeRunsDueRestarts(appId: string) {
  let body: Record<string, any> = {}
  const ok = await waitFor(async () => {
    await runTasksOnce(h.ctx, ['restart-due'])
    body = (await h.call('GET', `/orchestrator/containers/${appId}/status`)).body
    return (body.restartHistory?.length ?? 0) >= 1
  }, 60_000, 250)
  expect(ok, JSON.stringify(body)).toBe(true)
  return body
}

const containerIds = async (env: string) => (await labelled(docker, env)).map((c) => c.Id).sort()

describe('restart requested on an edge runtime, executed by the Node side (real engine)', () => {
  it('a recorded app: queued under its canonical id, the edge scheduler leaves it, the Node restart-due task restarts it', async () => {
    const { env, appId } = await deployApp('eq')
    const before = await containerIds(env)

    const r = await edgeCall('POST', `/orchestrator/containers/${appId}/request-restart`, { reason: 'rotated secret', priority: 'immediate' })
    expect(r.status, JSON.stringify(r.body)).toBe(202)
    expect(r.body).toMatchObject({ accepted: true, appName: appId, environment: env, status: 'queued', currentInstances: 1, restartStrategy: 'rolling' })

    // The edge's own status view: recorded instance, backend state not visible, the pending request.
    const seen = await edgeCall('GET', `/orchestrator/containers/${appId}/status`)
    expect(seen.status).toBe(200)
    expect(seen.body).toMatchObject({ appName: appId, app: 'web', environment: env, backend: null, instances: [{ unit: `bannou-${env}-web-1`, state: 'not visible from this runtime' }] })
    expect(seen.body.pendingRestart).toMatchObject({ id: r.body.restartId, environment: env, app: 'web' })

    // A scheduler trigger on the edge runtime does not claim it (it could not run it).
    await new Promise((res) => setTimeout(res, 600))
    const edgeRun = await runTasksOnce(edge, ['restart-due'])
    expect(edgeRun[0]).toMatchObject({ ok: true, outcome: { started: 0, queuedForNode: 1 } })

    const status = await nodeRunsDueRestarts(appId)
    expect(status.restartHistory[0]).toMatchObject({ id: r.body.restartId, result: 'succeeded', strategy: 'immediate', backend: 'compose', reasons: ['rotated secret'] })
    expect(await containerIds(env)).not.toEqual(before)
    const types = (await outbox(h.ctx)).filter((e) => e.kind === 'lifecycle' && e.payload.data.appName === appId).map((e) => e.payload.type)
    expect(types).toEqual(['restart.requested', 'restart.completed'])
  }, 120_000)

  it('an app no revision records: queued unresolved, the Node side finds it through the backend and restarts it', async () => {
    const { env, appId } = await deployApp('eu')
    const before = await containerIds(env)
    // As while a first deploy is still running: containers exist, no current revision yet.
    await h.ctx.store.call(['HDEL', h.ctx.keys.deployment(env), 'current'])

    const r = await edgeCall('POST', `/orchestrator/containers/${appId}/request-restart`, { reason: 'edge asked' })
    expect(r.status, JSON.stringify(r.body)).toBe(202)
    expect(r.body).toMatchObject({ status: 'queued', environment: null, currentInstances: null })

    const status = await nodeRunsDueRestarts(appId)
    expect(status.restartHistory[0]).toMatchObject({ id: r.body.restartId, result: 'succeeded', environment: env, backend: 'compose' })
    expect(await containerIds(env)).not.toEqual(before)
  }, 120_000)

  it('an app that runs nowhere: the Node side records the request as failed with the reason, it is not dropped', async () => {
    const appId = `ghost-${uniqueEnv('g')}`
    const r = await edgeCall('POST', `/orchestrator/containers/${appId}/request-restart`, { reason: 'typo' })
    expect(r.status).toBe(202)
    const status = (await waitFor(async () => {
      await runTasksOnce(h.ctx, ['restart-due'])
      return (await edgeCall('GET', `/orchestrator/containers/${appId}/status`)).body.restartHistory?.length === 1
    }, 30_000, 250))
    expect(status).toBe(true)
    const body = (await edgeCall('GET', `/orchestrator/containers/${appId}/status`)).body
    expect(body.pendingRestart).toBeNull()
    expect(body.restartHistory[0]).toMatchObject({ id: r.body.restartId, result: 'failed', reasons: ['typo'] })
    expect(body.restartHistory[0].error).toMatch(/could not resolve the app: No running app/)
  }, 60_000)
})
