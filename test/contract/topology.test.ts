import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asString } from '../../shared/store/ops.ts'
import { disposeContext } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { testDocker } from '../fixtures/images.ts'
import { deployHarness, labelled, outbox, removeEnvironment, testImages, uniqueEnv } from './deploy-support.ts'
import { allAnswer, containerPorts, startProber } from './restart-support.ts'

const docker = testDocker()
let h: ReturnType<typeof deployHarness>
const env = uniqueEnv('t')
const [s1, s2, s3, s4] = ['one', 'two', 'three', 'four'].map((s) => `${s}-${env}`) as [string, string, string, string]
const node = (name: string, services: string[], replicas = 1) => ({ name, services, replicas, daprAppId: `${name}-${env}`, environment: { HEARTBEAT_INTERVAL_MS: '200' } })

beforeAll(async () => {
  h = deployHarness(await testImages(docker), { ORCHESTRATOR_PREFERRED_BACKEND: 'compose' })
  await waitFor(async () => (await h.ctx.store.ping(), true), 10_000)
  const r = await h.call('POST', '/orchestrator/deploy', {
    environment: env,
    topology: { name: 'topo', nodes: [node('main', [s1, s2]), node('side', [s3])], infrastructure: { redis: { external: '127.0.0.1:6379' } } },
    wait: true,
  })
  expect(r.status, JSON.stringify(r.body)).toBe(200)
}, 120_000)

afterAll(async () => {
  await removeEnvironment(docker, env)
  await disposeContext(h.ctx)
})

const ids = async () => (await labelled(docker, env)).map((c) => c.Id).sort()
const mappingsSince = async (n: number) =>
  (await outbox(h.ctx)).slice(n).filter((e) => e.kind === 'service-mapping').map((e) => `${e.payload.action} ${e.payload.serviceName}@${e.payload.appId}`)

describe('POST /orchestrator/topology', () => {
  it('validates the whole change list first and plans without touching anything', async () => {
    const before = await ids()
    const bad = await h.call('POST', '/orchestrator/topology', { environment: env, changes: [{ action: 'move-service', nodeName: 'nowhere', services: [s1] }, { action: 'scale', nodeName: 'ghost', replicas: 2 }] })
    expect(bad.status).toBe(400)
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(['changes.0.nodeName', 'changes.1.nodeName'])
    const shape = await h.call('POST', '/orchestrator/topology', { environment: env, changes: [{ action: 'explode' }] })
    expect(shape.status).toBe(400)

    const dry = await h.call('POST', '/orchestrator/topology', { environment: env, dryRun: true, changes: [{ action: 'move-service', nodeName: 'side', services: [s1] }] })
    expect(dry.status, JSON.stringify(dry.body)).toBe(200)
    expect(dry.body.expectedMappingEvents).toEqual([{ action: 'update', serviceName: s1, appId: `side-${env}` }])
    expect(dry.body.phases).toHaveLength(2)
    expect(dry.body.changes.map((c: { unit: string; action: string }) => `${c.action} ${c.unit}`).sort()).toEqual([`recreate bannou-${env}-main-1`, `recreate bannou-${env}-side-1`])
    expect(await ids()).toEqual(before)
  })

  it('move-service: publishes update and the service answers from the new node', async () => {
    const mark = (await outbox(h.ctx)).length
    const r = await h.call('POST', '/orchestrator/topology', { environment: env, mode: 'graceful', changes: [{ action: 'move-service', nodeName: 'side', services: [s1] }] })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body).toMatchObject({ ok: true })
    expect(await mappingsSince(mark)).toEqual([`update ${s1}@side-${env}`])
    // The new node hosts it and heartbeats it; the source no longer does.
    const side = await docker.getContainer(`bannou-${env}-side-1`).inspect()
    const port = side.Config.Env.find((e) => e.startsWith('PORT='))!.slice(5)
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { services: string[] }
    expect(health.services).toContain(s1)
    const hb = JSON.parse(asString(await h.ctx.store.call(['GET', h.ctx.keys.heartbeat(s1, `side-${env}`)]))!)
    expect(hb.status).toBe('healthy')
    const main = await docker.getContainer(`bannou-${env}-main-1`).inspect()
    expect(main.Config.Env).not.toContain(`${s1.toUpperCase().replace(/-/g, '_')}_SERVICE_ENABLED=true`)
    expect(main.Config.Env).toContain(`${s2.toUpperCase().replace(/-/g, '_')}_SERVICE_ENABLED=true`)
  }, 90_000)

  it('add-node registers, scale publishes nothing, remove-node unregisters', async () => {
    let mark = (await outbox(h.ctx)).length
    const add = await h.call('POST', '/orchestrator/topology', { environment: env, changes: [{ action: 'add-node', nodeConfig: node('extra', [s4]) }, { action: 'scale', nodeName: 'side', replicas: 2 }] })
    expect(add.status, JSON.stringify(add.body)).toBe(200)
    expect(await mappingsSince(mark)).toEqual([`register ${s4}@extra-${env}`])
    expect((await labelled(docker, env)).map((c) => c.Names[0]).sort()).toEqual([`/bannou-${env}-extra-1`, `/bannou-${env}-main-1`, `/bannou-${env}-side-1`, `/bannou-${env}-side-2`])

    mark = (await outbox(h.ctx)).length
    const scale = await h.call('POST', '/orchestrator/topology', { environment: env, changes: [{ action: 'scale', nodeName: 'side', replicas: 1 }] })
    expect(scale.status).toBe(200)
    expect(await mappingsSince(mark)).toEqual([])

    mark = (await outbox(h.ctx)).length
    const rm = await h.call('POST', '/orchestrator/topology', { environment: env, changes: [{ action: 'remove-node', nodeName: 'extra' }] })
    expect(rm.status).toBe(200)
    expect(await mappingsSince(mark)).toEqual([`unregister ${s4}@extra-${env}`])
    expect((await labelled(docker, env)).map((c) => c.Names[0]).sort()).toEqual([`/bannou-${env}-main-1`, `/bannou-${env}-side-1`])
    void s3
  }, 120_000)

  it('graceful update-env on a 2-replica node: rolling replacement, no failed probe', async () => {
    const add = await h.call('POST', '/orchestrator/topology', { environment: env, changes: [{ action: 'add-node', nodeConfig: node('pair', [s4], 2) }] })
    expect(add.status, JSON.stringify(add.body)).toBe(200)
    expect(await allAnswer(() => containerPorts(docker, env, 'pair'))).toBe(true)
    const before = (await labelled(docker, env)).filter((c) => c.Labels['bannou.app'] === 'pair').map((c) => c.Id)
    const prober = startProber(docker, env, 'pair', 50, 2)
    await waitFor(async () => prober.stats.probes >= 5, 10_000, 50)
    const r = await h.call('POST', '/orchestrator/topology', { environment: env, mode: 'graceful', changes: [{ action: 'update-env', nodeName: 'pair', environment: { FEATURE_X: 'on' } }] })
    const stats = await prober.stop()
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body).toMatchObject({ ok: true, mode: 'graceful' })
    expect(stats.failed, stats.errors.join('\n')).toBe(0)
    expect(stats.maxUnavailable, stats.shortfalls.join('\n')).toBe(0)
    // Both replicas were replaced (new containers under the canonical names) and carry the new env.
    const pair = (await labelled(docker, env)).filter((c) => c.Labels['bannou.app'] === 'pair')
    expect(pair.map((c) => c.Names[0]).sort()).toEqual([`/bannou-${env}-pair-1`, `/bannou-${env}-pair-2`])
    expect(pair.filter((c) => before.includes(c.Id))).toEqual([])
    for (const c of pair) expect((await docker.getContainer(c.Id).inspect()).Config.Env).toContain('FEATURE_X=on')
    // The next identical deploy sees nothing to change (the new ports are the units' ports now).
    const again = await h.call('POST', '/orchestrator/topology', { environment: env, dryRun: true, changes: [{ action: 'update-env', nodeName: 'pair', environment: { FEATURE_X: 'on' } }] })
    expect(again.body.changes).toEqual([])
  }, 120_000)

  it.each(['immediate', 'force'] as const)('%s update-env replaces every replica under its name with the new env', async (mode) => {
    const pair = async () => (await labelled(docker, env)).filter((c) => c.Labels['bannou.app'] === 'pair')
    const before = (await pair()).map((c) => c.Id)
    expect(before).toHaveLength(2)
    const r = await h.call('POST', '/orchestrator/topology', { environment: env, mode, changes: [{ action: 'update-env', nodeName: 'pair', environment: { FEATURE_X: mode } }] })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body).toMatchObject({ ok: true, mode })
    const after = await pair()
    expect(after.map((c) => c.Names[0]).sort()).toEqual([`/bannou-${env}-pair-1`, `/bannou-${env}-pair-2`])
    expect(after.filter((c) => before.includes(c.Id))).toEqual([])
    for (const c of after) expect((await docker.getContainer(c.Id).inspect()).Config.Env).toContain(`FEATURE_X=${mode}`)
    // Both replicas answer again afterwards, whatever gap the mode allowed in between.
    expect(await allAnswer(() => containerPorts(docker, env, 'pair'))).toBe(true)
  }, 120_000)
})
