import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { disposeContext } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { buildDaprStandinVariant, buildRedisImage, testDocker } from '../fixtures/images.ts'
import { deployHarness, labelled, outbox, removeEnvironment, testImages, uniqueEnv } from './deploy-support.ts'

/**
 * Issue 4 leftovers: infrastructure deployed as a container (a local FROM-scratch redis-server
 * image, host networking on a port of our own), and Dapr sidecar readiness as part of verification.
 */
const docker = testDocker()
let images: { sample: string; dapr: string }
let redisImage: string
let neverListens: string
const harnesses: ReturnType<typeof deployHarness>[] = []
const envs: string[] = []

beforeAll(async () => {
  ;[images, redisImage] = await Promise.all([testImages(docker), buildRedisImage(docker)])
  neverListens = await buildDaprStandinVariant(docker, 'never-listen')
}, 180_000)

afterAll(async () => {
  for (const e of envs) await removeEnvironment(docker, e)
  for (const h of harnesses) await disposeContext(h.ctx)
})

function harness(env: Record<string, string | undefined> = {}) {
  const h = deployHarness(images, env)
  harnesses.push(h)
  return h
}

/** Redis PING over a plain socket: '+PONG' or the error. */
function ping(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    const done = (r: string) => (s.destroy(), resolve(r))
    s.setTimeout(1000, () => done('timeout'))
    s.once('error', (e) => done(e.message))
    s.once('connect', () => s.write('PING\r\n'))
    s.once('data', (d) => done(d.toString().trim()))
  })
}

/** A port below the ephemeral range that nothing on the machine listens on. */
async function freeLowPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 17000 + Math.floor(Math.random() * 1000)
    if ((await ping(p)).includes('ECONNREFUSED')) return p
  }
  throw new Error('no free port in 17000-17999')
}

describe('infrastructure as a container (real engine, host network)', () => {
  it('starts the Redis container first, checks it with PING on 127.0.0.1:<port>, then the apps; teardown removes it', async () => {
    // No configured external Redis: the preset's redis entry becomes a container from ORCHESTRATOR_REDIS_IMAGE.
    const h = harness({ ORCHESTRATOR_REDIS_IMAGE: redisImage, ORCHESTRATOR_EXTERNAL_REDIS: undefined })
    await waitFor(async () => (await h.ctx.store.ping(), true), 10_000)
    const env = uniqueEnv('ic')
    envs.push(env)
    const port = await freeLowPort()
    const service = `svc-${env}`
    const topology = {
      name: 'infra-container',
      // The apps heartbeat where this orchestrator reads (its own Redis), so verification can see them.
      nodes: [{ name: 'web', services: [service], daprAppId: `app-${env}`, environment: { BANNOU_RedisConnectionString: '127.0.0.1:6379', HEARTBEAT_INTERVAL_MS: '200' } }],
      infrastructure: { redis: { port } },
    }

    const dry = await h.call('POST', '/orchestrator/deploy', { environment: env, topology, dryRun: true })
    expect(dry.status, JSON.stringify(dry.body)).toBe(200)
    expect(dry.body.infrastructure).toEqual([{ kind: 'redis', mode: 'container', address: `127.0.0.1:${port}`, unit: `bannou-${env}-redis` }])

    const r = await h.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    const redis = await docker.getContainer(`bannou-${env}-redis`).inspect()
    const app = await docker.getContainer(`bannou-${env}-web-1`).inspect()
    expect(redis.Config.Image).toBe(redisImage)
    expect(redis.Config.Cmd).toEqual(['redis-server', '--port', String(port)])
    expect(redis.HostConfig.NetworkMode).toBe('host')
    expect(redis.HostConfig.RestartPolicy?.Name).toBe('no')
    expect(redis.Config.Labels?.['bannou.role']).toBe('infrastructure')
    // Start order: the app container was created only after Redis was running (and had answered PING).
    expect(Date.parse(app.Created)).toBeGreaterThan(Date.parse(redis.State.StartedAt))
    expect(await ping(port)).toBe('+PONG')
    // The apps are told the container's address through ExtraHosts (redis → 127.0.0.1 on the host network).
    expect(app.HostConfig.ExtraHosts).toContain('redis:127.0.0.1')

    const events = (await outbox(h.ctx)).filter((e) => e.kind === 'lifecycle' && e.payload.environment === env).map((e) => e.payload.type)
    expect(events).toEqual(['deployment.started', 'deployment.succeeded'])

    const down = await h.call('POST', '/orchestrator/teardown', { environment: env })
    expect(down.status, JSON.stringify(down.body)).toBe(200)
    expect(down.body.removed).toEqual(expect.arrayContaining([`bannou-${env}-redis`, `bannou-${env}-web-1`]))
    expect(await labelled(docker, env)).toEqual([])
    expect(await ping(port)).toMatch(/ECONNREFUSED/)
  }, 120_000)
})

describe('Dapr sidecar readiness is part of verification', () => {
  it('a sidecar that never listens fails the deploy although the app is healthy, and it rolls back', async () => {
    const good = harness()
    await waitFor(async () => (await good.ctx.store.ping(), true), 10_000)
    const env = uniqueEnv('sc')
    envs.push(env)
    const topology = {
      name: 'sidecar-ready',
      nodes: [{ name: 'web', services: [`svc-${env}`], daprEnabled: true, daprAppId: `app-${env}`, environment: { HEARTBEAT_INTERVAL_MS: '200' } }],
      infrastructure: { redis: { external: '127.0.0.1:6379' } },
    }
    const first = await good.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })
    expect(first.status, JSON.stringify(first.body)).toBe(200)
    const sidecarOf = async () => (await labelled(docker, env)).find((c) => c.Names[0] === `/bannou-${env}-web-1-dapr`)!
    const daprPort = JSON.parse((await sidecarOf()).Labels['bannou.spec']!).hostPorts[0] as number
    // Verified: the deploy finished only once the sidecar answered.
    expect((await fetch(`http://127.0.0.1:${daprPort}/v1.0/healthz`)).status).toBe(204)
    expect(first.body.verification).toContainEqual(expect.objectContaining({ service: 'dapr-sidecar', unit: `bannou-${env}-web-1-dapr`, healthy: true }))
    const goodSidecar = (await sidecarOf()).Id

    // Same environment and Redis keys, a sidecar image that never opens its port.
    const bad = harness({
      ORCHESTRATOR_KEY_PREFIX: good.ctx.keys.prefix,
      ORCHESTRATOR_HOST_PORT_RANGE: `${good.ctx.config.deploy.hostPortRange[0]}-${good.ctx.config.deploy.hostPortRange[1]}`,
      ORCHESTRATOR_DAPR_IMAGE: neverListens,
      ORCHESTRATOR_DEPLOY_VERIFY_TIMEOUT: '5',
    })
    const second = await bad.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })
    expect(second.status, JSON.stringify(second.body)).toBe(502)
    expect(second.body.deployment).toMatchObject({ status: 'rolled-back', revision: 2, result: { ok: false, rolledBackTo: 1 } })
    expect(second.body.detail).toMatch(new RegExp(`sidecar bannou-${env}-web-1-dapr: not listening on 127.0.0.1:\\d+`))
    // The app itself was healthy: only the sidecar held the deploy back.
    expect(second.body.deployment.verification).toContainEqual(expect.objectContaining({ service: `svc-${env}`, healthy: true }))

    // Rolled back: the sidecar runs the previous image again and answers.
    const back = await sidecarOf()
    expect(back.Image).toBe(images.dapr)
    expect(back.Id).not.toBe(goodSidecar)
    expect(await waitFor(async () => (await fetch(`http://127.0.0.1:${daprPort}/v1.0/healthz`).catch(() => null))?.status === 204, 10_000)).toBe(true)
    const status = await good.call('GET', '/orchestrator/status')
    expect(status.body.environments.find((e: { name: string }) => e.name === env).revision).toBe(1)
  }, 120_000)
})
