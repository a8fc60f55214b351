import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkDegradation } from '../../shared/health/degradation.ts'
import { cancelScheduledRestarts } from '../../shared/restarts/executor.ts'
import { disposeContext } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { testDocker } from '../fixtures/images.ts'
import { deployHarness, labelled, outbox, removeEnvironment, testImages, uniqueEnv } from './deploy-support.ts'
import { startProber } from './restart-support.ts'

const docker = testDocker()
let h: ReturnType<typeof deployHarness>
const envs: string[] = []

beforeAll(async () => {
  const images = await testImages(docker)
  h = deployHarness(images, {
    ORCHESTRATOR_PREFERRED_BACKEND: 'compose',
    ORCHESTRATOR_RESTART_COALESCE_WINDOW: '1.5',
    ORCHESTRATOR_RESTART_BUDGET: '1',
    // Generous: under a full parallel suite on 2 cores a replacement can take several seconds to beat.
    ORCHESTRATOR_RESTART_HEALTH_TIMEOUT: '15',
  })
  await waitFor(async () => (await h.ctx.store.ping(), true), 10_000)
}, 120_000)

afterAll(async () => {
  cancelScheduledRestarts(h.ctx)
  for (const e of envs) await removeEnvironment(docker, e)
  await disposeContext(h.ctx)
})

/** Deploys one app (2 replicas by default) hosting a service of its own and waits until it is healthy. */
async function deployApp(label: string, replicas = 2) {
  const env = uniqueEnv(label)
  envs.push(env)
  const service = `svc-${env}`
  const appId = `app-${env}`
  const topology = {
    name: 'restart-test',
    nodes: [{ name: 'web', services: [service], replicas, daprAppId: appId, environment: { HEARTBEAT_INTERVAL_MS: '200' } }],
    infrastructure: { redis: { external: '127.0.0.1:6379' } },
  }
  const r = await h.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  return { env, service, appId, topology }
}

const containerIds = async (env: string) => (await labelled(docker, env)).map((c) => c.Id).sort()

async function history(appId: string, length = 1) {
  let body: Record<string, any> = {}
  const ok = await waitFor(async () => {
    body = (await h.call('GET', `/orchestrator/containers/${appId}/status`)).body
    return (body.restartHistory?.length ?? 0) >= length
  }, 60_000, 250)
  expect(ok, JSON.stringify(body)).toBe(true)
  return body
}

describe('restarts on the compose backend (real engine, host network)', () => {
  it('graceful restart of 2 replicas: a prober every 50 ms never fails; the next deploy is a no-op', async () => {
    const { env, appId, topology } = await deployApp('g')
    const before = await containerIds(env)
    const prober = startProber(docker, env, 'web', 50, 2)
    await waitFor(async () => prober.stats.probes >= 5, 10_000, 50)

    const r = await h.call('POST', `/orchestrator/containers/${appId}/request-restart`, { reason: 'configuration_change', priority: 'graceful', shutdownGracePeriod: 2 })
    expect(r.status, JSON.stringify(r.body)).toBe(202)
    expect(r.body).toMatchObject({ accepted: true, appName: appId, currentInstances: 2, restartStrategy: 'rolling', status: 'scheduled' })
    expect(Date.parse(r.body.scheduledFor)).toBeGreaterThan(Date.now())

    const status = await history(appId)
    const stats = await prober.stop()
    expect(status.restartHistory[0], JSON.stringify(status.restartHistory[0])).toMatchObject({ result: 'succeeded', strategy: 'graceful', reasons: ['configuration_change'], backend: 'compose' })
    expect(status.restartHistory[0].replaced).toHaveLength(2)
    expect(stats.failed, stats.errors.join('\n')).toBe(0)
    expect(stats.probes).toBeGreaterThan(10)

    const after = await labelled(docker, env)
    expect(after.map((c) => c.Names[0]).sort()).toEqual([`/bannou-${env}-web-1`, `/bannou-${env}-web-2`])
    expect(after.every((c) => c.State === 'running')).toBe(true)
    expect(after.map((c) => c.Id).sort()).not.toEqual(before)
    expect(status.instances).toHaveLength(2)
    expect(status.health).toBe('healthy')

    // The restarted containers still match the desired state: a redeploy changes nothing.
    const again = await h.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })
    expect(again.body.plan.summary).toMatchObject({ create: 0, recreate: 0, remove: 0 })

    const types = (await outbox(h.ctx)).filter((e) => e.kind === 'lifecycle' && e.payload.data.appName === appId).map((e) => e.payload.type)
    expect(types).toEqual(['restart.requested', 'restart.completed'])
  }, 120_000)

  it('a replacement that never gets healthy stops the rollout; the old instances keep running', async () => {
    const { env, service, appId } = await deployApp('n')
    const before = await containerIds(env)
    // Without force: healthy service → not restarted, and says why.
    const no = await h.call('POST', '/orchestrator/services/restart', { serviceName: service })
    expect(no.status).toBe(200)
    expect(no.body).toMatchObject({ restarted: false })
    expect(no.body.reason).toMatch(/healthy/)

    const r = await h.call('POST', '/orchestrator/restart', { serviceName: service, force: true, environment: { SAMPLE_MODE: 'never-healthy' } })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.restarts).toEqual([expect.objectContaining({ appName: appId, accepted: true })])
    const status = await history(appId)
    expect(status.restartHistory[0]).toMatchObject({ result: 'failed', kept: [`bannou-${env}-web-1`, `bannou-${env}-web-2`] })
    expect(status.restartHistory[0].error).toMatch(/did not report healthy/)
    expect(await containerIds(env)).toEqual(before)
    expect((await labelled(docker, env)).every((c) => c.State === 'running')).toBe(true)
  }, 120_000)

  it('coalesces 5 requests in 1 s into one restart, then refuses beyond the budget with 429', async () => {
    const { env, appId } = await deployApp('c', 1)
    const before = await containerIds(env)
    const answers = []
    for (let i = 0; i < 5; i++) {
      answers.push(await h.call('POST', `/orchestrator/containers/${appId}/request-restart`, { reason: `key ${i} changed`, priority: i === 3 ? 'immediate' : 'graceful' }))
      await new Promise((res) => setTimeout(res, 200))
    }
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202])
    expect(answers.map((a) => a.body.status)).toEqual(['scheduled', 'coalesced', 'coalesced', 'coalesced', 'coalesced'])
    expect(new Set(answers.map((a) => a.body.restartId)).size).toBe(1)

    const status = await history(appId)
    // Give a (wrong) second restart the time to show up before counting.
    await new Promise((res) => setTimeout(res, 2000))
    const final = (await h.call('GET', `/orchestrator/containers/${appId}/status`)).body
    expect(final.restartHistory).toHaveLength(1)
    expect(status.restartHistory[0]).toMatchObject({ result: 'succeeded', requests: 5, strategy: 'immediate' })
    expect(status.restartHistory[0].reasons).toEqual(['key 0 changed', 'key 1 changed', 'key 2 changed', 'key 3 changed', 'key 4 changed'])
    expect(await containerIds(env)).not.toEqual(before)

    const refused = await h.call('POST', `/orchestrator/containers/${appId}/request-restart`, { reason: 'again' })
    expect(refused.status).toBe(429)
    expect(refused.headers.get('content-type')).toContain('application/problem+json')
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(refused.body).toMatchObject({ appName: appId, budget: 1 })
  }, 120_000)

  it('validates input and lists containers and backends', async () => {
    const bad = await h.call('POST', '/orchestrator/containers/x/request-restart', { priority: 'sometime' })
    expect(bad.status).toBe(400)
    expect(bad.body.errors[0].field).toBe('priority')
    const missing = await h.call('POST', '/orchestrator/containers/no-such-app-zz/request-restart', {})
    expect(missing.status).toBe(404)

    const b = await h.call('GET', '/orchestrator/backends')
    expect(b.status).toBe(200)
    expect(b.body.backends.map((x: { name: string }) => x.name)).toEqual(['kubernetes', 'portainer', 'swarm', 'compose'])
    expect(b.body.backends[0]).toMatchObject({ available: false, reason: expect.stringMatching(/not configured/) })
    expect(b.body.backends[1]).toMatchObject({ available: false, reason: expect.stringMatching(/not configured/) })
    expect(b.body.backends[3]).toMatchObject({ available: true, capabilities: { liveTopology: 'limited' }, restartStrategies: ['graceful', 'immediate', 'force'] })
    expect(b.body.selected).toBe('compose')
    expect((await h.call('GET', '/orchestrator/backends')).body.cached).toBe(true)
    expect((await h.call('GET', '/orchestrator/backends?refresh=true')).body.cached).toBe(false)
  })

  it('the degradation check restarts a managed app that went unavailable through the request-restart path', async () => {
    const { env, service, appId } = await deployApp('auto', 1)
    const before = await containerIds(env)
    // The app's container dies and its heartbeat is gone: unavailable.
    for (const id of before) await docker.getContainer(id).stop({ t: 0 })
    await h.ctx.store.call(['DEL', h.ctx.keys.heartbeat(service, appId)])
    const r = await checkDegradation(h.ctx)
    expect(r).toMatchObject({ restartsAccepted: 1, restartsRecordedOnly: 0 })
    expect(r.decisions).toContainEqual(expect.objectContaining({ appName: appId, reason: 'auto:unavailable', decision: 'scheduled' }))
    const status = await history(appId)
    expect(status.restartHistory[0]).toMatchObject({ result: 'succeeded', requestedBy: ['scheduler:degradation-check'], reasons: ['auto:unavailable'] })
    expect(await containerIds(env)).not.toEqual(before)
    // A second tick while it recovers adds nothing new.
    const again = await checkDegradation(h.ctx)
    expect(again.restartsAccepted).toBe(0)
  }, 120_000)
})
