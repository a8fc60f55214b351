import { describe, expect, it } from 'vitest'
import { watchEnvironment } from '../../shared/environments/watch.ts'
import { asArray } from '../../shared/store/ops.ts'
import { disposeContext } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { startTcpProxy } from '../support/tcp-proxy.ts'
import { buildManagedScratchImage } from '../fixtures/images.ts'
import { deployHarness, labelled, outbox, useDeploySuite } from './deploy-support.ts'

const suite = useDeploySuite()
const { docker } = suite

describe('deploy operations on the real engine', () => {
  it('waits for unreachable infrastructure before starting anything, then proceeds when it returns', async () => {
    const env = suite.environment('g')
    const proxy = await startTcpProxy(6379)
    try {
      proxy.cut()
      const topology = { nodes: [{ name: 'gated', services: ['auth'], daprEnabled: true }], infrastructure: { redis: { external: proxy.address } } }
      const r = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology })
      expect(r.status).toBe(202)
      let rec: Record<string, any> = {}
      expect(
        await waitFor(async () => {
          rec = (await suite.h.call('GET', r.body.location)).body
          return rec.stage === 'infrastructure' && rec.waitingFor.length > 0
        }, 10_000),
      ).toBe(true)
      expect(rec.waitingFor[0]).toContain(`redis (external) at ${proxy.address}`)
      expect(await labelled(docker, env)).toEqual([])
      proxy.restore()
      expect(
        await waitFor(async () => {
          rec = (await suite.h.call('GET', r.body.location)).body
          return rec.status !== 'running'
        }, 30_000),
      ).toBe(true)
      expect(rec).toMatchObject({ status: 'succeeded', waitingFor: [] })
      // The app reads Redis through the hostname the orchestrator injected via ExtraHosts.
      const app = await docker.getContainer(`bannou-${env}-gated-1`).inspect()
      expect(app.HostConfig.ExtraHosts).toEqual(expect.arrayContaining(['redis:127.0.0.1', `bannou-${env}-gated-1-dapr:127.0.0.1`]))
      expect(app.Config.Env).toContain(`BANNOU_RedisConnectionString=redis:${proxy.port}`)
      const sidecar = await docker.getContainer(`bannou-${env}-gated-1-dapr`).inspect()
      expect(sidecar.Args).toEqual(expect.arrayContaining(['--app-id', 'gated', '--placement-host-address', 'placement:50006']))
      await suite.h.call('POST', '/orchestrator/teardown', { environment: env })
    } finally {
      await proxy.close()
    }
  }, 60_000)

  it('after an infrastructure outage starts only the exited units again, once; rolls back a deploy interrupted by a crash', async () => {
    const env = suite.environment('w')
    const proxy = await startTcpProxy(6379)
    try {
      const topology = { nodes: [{ name: 'watched', services: ['auth'], daprEnabled: true }], infrastructure: { redis: { external: proxy.address } } }
      expect((await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })).status).toBe(200)
      const app = docker.getContainer(`bannou-${env}-watched-1`)
      const sidecar = docker.getContainer(`bannou-${env}-watched-1-dapr`)
      const sidecarStarted = (await sidecar.inspect()).State.StartedAt
      proxy.cut()
      expect((await watchEnvironment(suite.h.ctx, env)).infrastructureDown?.[0]).toContain('redis')
      await app.kill() // the app exits during the outage
      expect((await watchEnvironment(suite.h.ctx, env)).restarted).toBeUndefined() // nothing restarts while Redis is away
      expect((await app.inspect()).State.Running).toBe(false)
      proxy.restore()
      expect((await watchEnvironment(suite.h.ctx, env)).restarted).toEqual([`bannou-${env}-watched-1`])
      expect((await app.inspect()).State.Running).toBe(true)
      expect((await sidecar.inspect()).State.StartedAt).toBe(sidecarStarted) // the running sidecar was left alone
      expect((await watchEnvironment(suite.h.ctx, env)).restarted).toBeUndefined() // once

      // An orchestrator that died mid-deploy leaves inProgress behind and its lease expires.
      await app.kill()
      const crashed = crypto.randomUUID()
      await suite.h.ctx.store.call(['HSET', suite.h.ctx.keys.deployment(env), 'inProgress', JSON.stringify({ deploymentId: crashed, revision: 2, previousRevision: 1, startedAt: new Date().toISOString() })])
      expect((await watchEnvironment(suite.h.ctx, env)).recovered).toBe(crashed)
      expect((await app.inspect().catch(() => docker.getContainer(`bannou-${env}-watched-1`).inspect())).State.Running).toBe(true)
      expect((await suite.h.ctx.store.call(['HGET', suite.h.ctx.keys.deployment(env), 'inProgress']))).toBeNull()
      const last = (await outbox(suite.h.ctx)).filter((e) => e.kind === 'lifecycle').pop()
      expect(last?.payload).toMatchObject({ type: 'deployment.rolled-back', data: { deploymentId: crashed, reason: 'interrupted', rolledBackTo: 1 } })
      await suite.h.call('POST', '/orchestrator/teardown', { environment: env })
    } finally {
      await proxy.close()
    }
  }, 60_000)

  it('serves logs as JSON and as server-sent events', async () => {
    const env = suite.environment('l')
    const topology = { nodes: [{ name: 'talk', services: ['auth'] }] }
    expect((await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })).status).toBe(200)
    const logs = await suite.h.call('GET', `/orchestrator/logs?app=talk&environment=${env}&tail=50`)
    expect(logs.status).toBe(200)
    expect(logs.body.lines.map((l: { line: string }) => l.line).join('\n')).toContain('"msg":"starting"')
    const ac = new AbortController()
    const res = await suite.h.app.request(`/orchestrator/logs?app=talk&environment=${env}&follow=true`, { signal: ac.signal })
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    let text = ''
    while (!text.includes('event: log')) text += new TextDecoder().decode((await reader.read()).value)
    expect(text).toContain('event: open')
    await reader.cancel()
    const missing = await suite.h.call('GET', `/orchestrator/logs?app=nobody&environment=${env}`)
    expect(missing.status).toBe(404)
    await suite.h.call('POST', '/orchestrator/teardown', { environment: env })
  }, 60_000)

  it('clean removes only labelled stopped containers and unused images it owns; dryRun only reports', async () => {
    const tag = `bannou-test/clean-me:${Date.now().toString(36)}`
    await buildManagedScratchImage(docker, tag)
    const c = await docker.createContainer({ Image: suite.images.sample, name: `bannou-clean-${Date.now().toString(36)}`, Labels: { 'bannou.managed': 'true', 'bannou.environment': 'cleantest' } })
    const foreign = await docker.createContainer({ Image: suite.images.sample, name: `foreign-${Date.now().toString(36)}` })
    try {
      const dry = await suite.h.call('POST', '/orchestrator/clean', { dryRun: true })
      expect(dry.status).toBe(200)
      expect(dry.body.images).toContain(tag)
      expect(dry.body.containers).toContain((await c.inspect()).Name.slice(1))
      expect(await c.inspect()).toBeTruthy()
      const real = await suite.h.call('POST', '/orchestrator/clean', {})
      const cName = dry.body.containers.find((n: string) => n.startsWith('bannou-clean-'))
      expect(real.body.containers).toContain(cName)
      expect(real.body.containers).not.toContain((await foreign.inspect()).Name.slice(1))
      await expect(c.inspect()).rejects.toThrow()
      await expect(docker.getImage(tag).inspect()).rejects.toThrow()
      expect((await foreign.inspect()).Id).toBeTruthy()
      expect(await docker.getImage(suite.images.sample).inspect()).toBeTruthy()
    } finally {
      await foreign.remove({ force: true }).catch(() => undefined)
      await c.remove({ force: true }).catch(() => undefined)
      await docker.getImage(tag).remove().catch(() => undefined)
    }
  }, 60_000)

  it('answers 503 problem+json and writes nothing to Redis when the Docker engine is unreachable', async () => {
    const dead = deployHarness(suite.images, { ORCHESTRATOR_DOCKER_HOST: 'unix:///tmp/no-docker-here.sock' })
    try {
      await waitFor(async () => (await dead.ctx.store.ping(), true), 10_000)
      const r = await dead.call('POST', '/orchestrator/deploy', { environment: 'nowhere', topology: { nodes: [{ name: 'a', services: ['auth'] }] } })
      expect(r.status).toBe(503)
      expect(r.headers.get('content-type')).toContain('application/problem+json')
      expect(r.body.detail).toContain('no-docker-here.sock')
      const keys = asArray(await dead.ctx.store.call(['KEYS', `${dead.ctx.keys.prefix}*`]))
      expect(keys).toEqual([])
    } finally {
      await disposeContext(dead.ctx)
    }
  })
})
