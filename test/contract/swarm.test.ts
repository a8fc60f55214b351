import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backendInstance } from '../../shared/backends/registry.ts'
import type { UnitSpec } from '../../shared/backends/types.ts'
import { specDifferences } from '../../shared/environments/plan.ts'
import { cancelScheduledRestarts } from '../../shared/restarts/executor.ts'
import { asArray } from '../../shared/store/ops.ts'
import { disposeContext } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { testDocker } from '../fixtures/images.ts'
import { deployHarness, labelled, testImages, uniqueEnv } from './deploy-support.ts'
import { NODE_HEALTHCHECK, activeServicePorts, allAnswer, servicePorts, startProber } from './restart-support.ts'

/**
 * The swarm backend on a real single-node swarm. The engine is shared with suites that use
 * the compose backend, so swarm mode is on only for this file's swarm tests, and left again
 * afterwards if this file turned it on.
 */
const docker = testDocker()
let images: { sample: string; dapr: string }
let swarm: ReturnType<typeof deployHarness>
let turnedOn = false
const env = uniqueEnv('s')

const swarmState = async () => ((await docker.info()) as { Swarm: { LocalNodeState: string } }).Swarm.LocalNodeState
const services = async () => (await docker.listServices({ filters: { label: [`bannou.environment=${env}`] } })) as unknown as { ID: string; Spec: { Mode: { Replicated: { Replicas: number } }; TaskTemplate: { ContainerSpec: { Env?: string[] } } } }[]
const runningTasks = async () => ((await docker.listTasks({ filters: { label: [`bannou.environment=${env}`], 'desired-state': ['running'] } })) as { ID: string; Status: { State: string } }[]).filter((t) => t.Status.State === 'running')

const topology = (replicas: number) => ({
  name: 'swarm-test',
  nodes: [{ name: 'web', services: [`svc-${env}`], replicas, daprAppId: `app-${env}`, environment: { HEARTBEAT_INTERVAL_MS: '200', BANNOU_HealthCheckCmd: NODE_HEALTHCHECK } }],
  infrastructure: { redis: { external: '127.0.0.1:6379' } },
})

beforeAll(async () => {
  images = await testImages(docker)
}, 120_000)

afterAll(async () => {
  if (swarm) {
    cancelScheduledRestarts(swarm.ctx)
    for (const s of await services().catch(() => [])) await docker.getService(s.ID).remove().catch(() => undefined)
    await disposeContext(swarm.ctx)
  }
  if (turnedOn) {
    // Wait for the task containers to go before leaving (they use the host network, not swarm's).
    await waitFor(async () => (await labelled(docker, env)).length === 0, 20_000)
    await docker.swarmLeave({ force: true })
  }
}, 60_000)

describe('backend override', () => {
  it('a named backend that is unavailable → 503 problem+json, nothing changed', async () => {
    const names = (await swarmState()) === 'active' ? ['kubernetes'] : ['kubernetes', 'swarm']
    for (const name of names) {
      const h = deployHarness(images, { ORCHESTRATOR_PREFERRED_BACKEND: name })
      await waitFor(async () => (await h.ctx.store.ping(), true), 10_000)
      const e = uniqueEnv('o')
      const r = await h.call('POST', '/orchestrator/deploy', { environment: e, topology: topology(1), wait: true })
      expect(r.status, JSON.stringify(r.body)).toBe(503)
      expect(r.headers.get('content-type')).toContain('application/problem+json')
      expect(r.body.detail).toMatch(new RegExp(`ORCHESTRATOR_PREFERRED_BACKEND=${name}.*no fallback`))
      expect(await labelled(docker, e)).toEqual([])
      expect(await h.ctx.store.call(['EXISTS', h.ctx.keys.deployment(e)])).toBe(0)
      expect(asArray(await h.ctx.store.call(['ZRANGE', h.ctx.keys.deploymentIndex, 0, -1]))).toEqual([])
      const b = await h.call('GET', '/orchestrator/backends')
      expect(b.body.selected).toBeNull()
      expect(b.body.selection).toMatch(/no fallback/)
      await disposeContext(h.ctx)
    }
  }, 60_000)
})

describe('swarm backend on a real single-node swarm', () => {
  it('deploys as a service, scales, and restarts with a rolling update', async () => {
    if ((await swarmState()) !== 'active') {
      await docker.swarmInit({ ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' })
      turnedOn = true
    }
    swarm = deployHarness(images, { ORCHESTRATOR_PREFERRED_BACKEND: 'swarm', ORCHESTRATOR_RESTART_COALESCE_WINDOW: '0.2', ORCHESTRATOR_RESTART_HEALTH_TIMEOUT: '30' })
    await waitFor(async () => (await swarm.ctx.store.ping(), true), 10_000)
    await waitFor(async () => (await swarm.call('GET', '/orchestrator/backends?refresh=true')).body.selected === 'swarm', 10_000)

    const r = await swarm.call('POST', '/orchestrator/deploy', { environment: env, topology: topology(2), wait: true })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body).toMatchObject({ status: 'succeeded', backend: 'swarm' })
    const svc = await services()
    expect(svc).toHaveLength(1)
    expect(svc[0]!.Spec.Mode.Replicated.Replicas).toBe(2)
    // Two host ports per slot (the spec's and an alternate one); the tasks use one set.
    expect(await servicePorts(docker, env, 'web')).toHaveLength(4)
    const ports = await activeServicePorts(docker, env, 'web')
    expect(ports).toHaveLength(2)
    for (const p of ports) expect((await fetch(`http://127.0.0.1:${p}/health`)).status).toBe(200)
    const units = (await swarm.call('GET', `/orchestrator/containers?environment=${env}`)).body
    expect(units.backend).toBe('swarm')
    expect(units.apps).toEqual([expect.objectContaining({ app: 'web', running: 2, instances: [expect.objectContaining({ unit: `bannou-${env}-web-1` }), expect.objectContaining({ unit: `bannou-${env}-web-2` })] })])
    // Same topology again: the plan sees the tasks as the units it wants, nothing changes.
    const again = await swarm.call('POST', '/orchestrator/deploy', { environment: env, topology: topology(2), dryRun: true })
    expect(again.body.plan?.summary ?? again.body.summary, JSON.stringify(again.body)).toMatchObject({ create: 0, recreate: 0, remove: 0 })

    // Scale to 3 through the backend: Swarm starts the third task itself.
    await backendInstance(swarm.ctx, 'swarm')!.scale(`bannou-${env}-web`, 3)
    expect(await waitFor(async () => (await runningTasks()).length === 3, 60_000, 300)).toBe(true)
    expect(await servicePorts(docker, env, 'web')).toHaveLength(6)

    // Rolling restart (graceful = update_config parallelism 1, start-first on the other port
    // set, gated by the health check) under a prober: never an instance down.
    const before = (await runningTasks()).map((t) => t.ID).sort()
    expect(await allAnswer(() => activeServicePorts(docker, env, 'web'))).toBe(true)
    const prober = startProber(docker, env, 'web', 50, 3, () => servicePorts(docker, env, 'web'))
    await waitFor(async () => prober.stats.probes >= 5, 10_000, 50)
    const req = await swarm.call('POST', `/orchestrator/containers/app-${env}/request-restart`, { reason: 'swarm rolling update', priority: 'graceful', shutdownGracePeriod: 1 })
    expect(req.status, JSON.stringify(req.body)).toBe(202)
    let status: Record<string, any> = {}
    expect(
      await waitFor(async () => {
        status = (await swarm.call('GET', `/orchestrator/containers/app-${env}/status`)).body
        return (status.restartHistory?.length ?? 0) >= 1
      }, 120_000, 500),
    ).toBe(true)
    const stats = await prober.stop()
    console.log('swarm rolling restart prober', JSON.stringify({ ...stats, errors: stats.errors.slice(0, 5) }))
    expect(status.restartHistory[0], JSON.stringify(status.restartHistory[0])).toMatchObject({ result: 'succeeded', backend: 'swarm', strategy: 'graceful' })
    const after = (await runningTasks()).map((t) => t.ID).sort()
    expect(after).toHaveLength(3)
    expect(after.filter((id) => before.includes(id))).toEqual([])
    expect(stats.failed, stats.errors.join('\n')).toBe(0)
    expect(stats.maxUnavailable).toBe(0)
    for (const p of await activeServicePorts(docker, env, 'web')) expect((await fetch(`http://127.0.0.1:${p}/health`)).status).toBe(200)

    // A live topology change on Swarm: update-env rolls the service to the new environment.
    const topo = await swarm.call('POST', '/orchestrator/topology', { environment: env, mode: 'graceful', changes: [{ action: 'update-env', nodeName: 'web', environment: { FEATURE_X: 'swarm' } }] })
    expect(topo.status, JSON.stringify(topo.body)).toBe(200)
    expect(topo.body, JSON.stringify(topo.body).slice(0, 3000)).toMatchObject({ ok: true, mode: 'graceful' })
    expect((await services())[0]!.Spec.TaskTemplate.ContainerSpec.Env).toContain('FEATURE_X=swarm')
    const envOf = async (id: string) => (await docker.getTask(id).inspect()).Spec.ContainerSpec.Env as string[]
    expect(
      await waitFor(async () => {
        const tasks = await runningTasks()
        return tasks.length >= 2 && (await Promise.all(tasks.map((t) => envOf(t.ID)))).every((e) => e.includes('FEATURE_X=swarm'))
      }, 60_000, 300),
    ).toBe(true)

    const down = await swarm.call('POST', '/orchestrator/teardown', { environment: env })
    expect(down.status, JSON.stringify(down.body)).toBe(200)
    expect(await services()).toEqual([])
  }, 300_000)

  it('secret values become labelled Swarm secrets, versioned by content, removed with the service', async () => {
    expect(swarm, 'runs after the deploy test (swarm mode on)').toBeDefined()
    const backend = backendInstance(swarm.ctx, 'swarm')!
    const e = uniqueEnv('ss')
    const port = 20000 + Math.floor(Math.random() * 12000)
    const spec = (value: string): UnitSpec => ({
      name: `bannou-${e}-vault-1`, environment: e, app: 'vault', role: 'app', replica: 1, image: images.sample,
      env: { PORT: String(port), HEARTBEAT_INTERVAL_MS: '200' }, extraHosts: [], hostPorts: [port], secrets: { API_TOKEN: value },
    })
    const apply = async (action: 'create' | 'recreate' | 'remove', s?: UnitSpec) => {
      const r = await backend.apply({ environment: e, revision: 1, actions: [{ action, unit: `bannou-${e}-vault-1`, app: 'vault', role: 'app', reasons: [], ...(s ? { spec: s } : {}) }], summary: { create: 0, recreate: 0, remove: 0, unchanged: 0 } }, { revision: 1, deploymentId: 'secret-test' })
      expect(r.results.every((x) => x.ok), JSON.stringify(r)).toBe(true)
    }
    const secrets = async () => (await docker.listSecrets({ filters: { label: [`bannou.environment=${e}`] } })) as unknown as { ID: string; Spec: { Name: string; Labels: Record<string, string> } }[]
    const fileInTask = async () => {
      const c = (await docker.listContainers({ filters: { label: [`bannou.environment=${e}`] } }))[0]!
      const exec = await docker.getContainer(c.Id).exec({ Cmd: ['/usr/bin/node', '-e', "process.stdout.write(require('fs').readFileSync('/run/secrets/API_TOKEN', 'utf8'))"], AttachStdout: true, AttachStderr: true })
      const stream = await exec.start({})
      const chunks: Buffer[] = []
      await new Promise((r) => (stream.on('data', (d: Buffer) => chunks.push(d)), stream.on('end', r)))
      return Buffer.concat(chunks).toString('utf8').replace(/[\x00-\x08]/g, '').trim()
    }
    try {
      await apply('create', spec('first-value'))
      const first = await secrets()
      expect(first).toHaveLength(1)
      expect(first[0]!.Spec.Labels).toMatchObject({ 'bannou.managed': 'true', 'bannou.service': `bannou-${e}-vault`, 'bannou.secret-key': 'API_TOKEN' })
      const svc = (await docker.getService(`bannou-${e}-vault`).inspect()) as { Spec: { Labels: Record<string, string>; TaskTemplate: { ContainerSpec: { Env: string[]; Secrets: { SecretName: string; File: { Name: string } }[] } } } }
      expect(svc.Spec.TaskTemplate.ContainerSpec.Secrets).toEqual([expect.objectContaining({ SecretName: first[0]!.Spec.Name, File: expect.objectContaining({ Name: 'API_TOKEN' }) })])
      expect(svc.Spec.TaskTemplate.ContainerSpec.Env).toContain('API_TOKEN_FILE=/run/secrets/API_TOKEN')
      // Neither the env nor any label carries the value; the spec label holds its digest.
      expect(JSON.stringify(svc.Spec)).not.toContain('first-value')
      expect(JSON.parse(svc.Spec.Labels['bannou.specs']!)[0].secrets.API_TOKEN).toMatch(/^sha256:[0-9a-f]{64}$/)
      expect(await waitFor(async () => (await fileInTask().catch(() => '')) === 'first-value', 30_000, 300), await fileInTask().catch(String)).toBe(true)
      // The planner sees a changed value as a changed digest.
      const running = (await backend.status(e))[0]!.spec!
      expect(specDifferences(running, spec('first-value'))).toEqual([])
      expect(specDifferences(running, spec('second-value'))).toEqual(['secret API_TOKEN changed'])

      await apply('recreate', spec('second-value'))
      expect(await waitFor(async () => (await fileInTask().catch(() => '')) === 'second-value', 30_000, 300)).toBe(true)
      // A new value is a new secret; the old version goes once no task uses it.
      const second = await secrets()
      expect(second.map((x) => x.Spec.Name)).not.toContain(first[0]!.Spec.Name)
      expect(second).toHaveLength(1)

      await apply('remove')
      expect(await secrets()).toEqual([])
    } finally {
      await backend.remove(e, { graceSeconds: 0, removeVolumes: false })
    }
  }, 120_000)
})
