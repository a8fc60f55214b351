import { describe, expect, it } from 'vitest'
import { waitFor } from '../support/services.ts'
import { labelled, outbox, useDeploySuite } from './deploy-support.ts'

const suite = useDeploySuite()
const { docker } = suite

const node = (name: string, services: string[], extra: Record<string, unknown> = {}) => ({ name, services, daprEnabled: true, ...extra })
const topology = (nodes: unknown[]) => ({ name: 'inline-test', nodes, infrastructure: { redis: { external: '127.0.0.1:6379' } } })

describe('deploy onto the real Docker engine', () => {
  it('deploys, verifies by heartbeat, plans exactly a change, rolls back a failure, tears down', async () => {
    const env = suite.environment('d')
    const A = topology([node('main', ['auth', 'accounts'])])

    const first = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology: A, wait: true })
    expect(first.status, JSON.stringify(first.body)).toBe(200)
    expect(first.body).toMatchObject({ status: 'succeeded', revision: 1 })
    expect(first.headers.get('location')).toBe(`/orchestrator/deployments/${first.body.id}`)
    const running = await labelled(docker, env)
    expect(running.map((c) => c.Names[0]).sort()).toEqual([`/bannou-${env}-main-1`, `/bannou-${env}-main-1-dapr`])
    expect(running.every((c) => c.State === 'running')).toBe(true)
    // The standalone sidecar answers its health endpoint on its own port (host network).
    const sidecar = running.find((c) => c.Names[0]!.endsWith('-dapr'))!
    const daprPort = JSON.parse(sidecar.Labels['bannou.spec']!).hostPorts[0]
    // Verification waited for the sidecar to answer its healthz; poll anyway (a stray port check is cheap).
    expect(await waitFor(async () => (await fetch(`http://127.0.0.1:${daprPort}/v1.0/healthz`)).status === 204, 10_000)).toBe(true)
    // No restart policy on anything we create.
    const inspected = await docker.getContainer(`bannou-${env}-main-1`).inspect()
    expect(inspected.HostConfig.RestartPolicy?.Name).toBe('no')
    expect(inspected.Config.Env).toContain('AUTH_SERVICE_ENABLED=true')
    expect(inspected.Config.Env).toContain('BEHAVIOR_SERVICE_ENABLED=false')

    const status = await suite.h.call('GET', '/orchestrator/status')
    const mine = status.body.environments.find((e: { name: string }) => e.name === env)
    expect(status.body.backend.selected).toBe('compose')
    expect(mine).toMatchObject({ revision: 1, preset: 'inline-test' })
    expect(mine.containers).toHaveLength(2)

    let events = await outbox(suite.h.ctx)
    const mapping = (action: string) => events.filter((e) => e.kind === 'service-mapping' && e.payload.action === action).map((e) => `${e.payload.serviceName}@${e.payload.appId}`).sort()
    expect(mapping('register')).toEqual(['accounts@main', 'auth@main'])
    expect(events.filter((e) => e.kind === 'lifecycle').map((e) => e.payload.type)).toEqual(['deployment.started', 'deployment.succeeded'])

    // Same topology again: a no-op plan, nothing recreated.
    const again = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology: A, wait: true })
    expect(again.status).toBe(200)
    expect(again.body.plan.summary).toEqual({ create: 0, recreate: 0, remove: 0, unchanged: 2 })
    expect((await labelled(docker, env)).map((c) => c.Id).sort()).toEqual(running.map((c) => c.Id).sort())

    // Changed topology: the dry run names exactly the change and touches nothing.
    const B = topology([node('main', ['auth']), node('acct', ['accounts'], { daprAppId: 'bannou-acct', daprEnabled: false })])
    const dry = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology: B, dryRun: true })
    expect(dry.status).toBe(200)
    const changes = Object.fromEntries(dry.body.changes.map((a: { unit: string; action: string; reasons: string[] }) => [a.unit, a]))
    expect(Object.keys(changes).sort()).toEqual([`bannou-${env}-acct-1`, `bannou-${env}-main-1`, `bannou-${env}-main-1-dapr`])
    expect(changes[`bannou-${env}-acct-1`].action).toBe('create')
    expect(changes[`bannou-${env}-main-1`]).toMatchObject({ action: 'recreate', reasons: ['env ACCOUNTS_SERVICE_ENABLED true → false'] })
    expect(changes[`bannou-${env}-main-1-dapr`]).toMatchObject({ action: 'recreate', reasons: ['its app is recreated'] })
    expect((await labelled(docker, env)).map((c) => c.Id).sort()).toEqual(running.map((c) => c.Id).sort())

    const second = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology: B, wait: true })
    expect(second.status, JSON.stringify(second.body)).toBe(200)
    expect(second.body.revision).toBe(2)
    events = await outbox(suite.h.ctx)
    expect(mapping('update')).toEqual(['accounts@bannou-acct'])
    const rev2Ids = (await labelled(docker, env)).map((c) => c.Id).sort()
    expect(rev2Ids).toHaveLength(3)

    // A crashing app fails verification and is rolled back to revision 2.
    const C = topology([node('main', ['auth'], { environment: { SAMPLE_MODE: 'crash' } }), node('acct', ['accounts'], { daprAppId: 'bannou-acct', daprEnabled: false })])
    const bad = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology: C, wait: true })
    expect(bad.status).toBe(502)
    expect(bad.headers.get('content-type')).toContain('application/problem+json')
    expect(bad.body.deployment).toMatchObject({ status: 'rolled-back', revision: 3, result: { ok: false, rolledBackTo: 2 } })
    expect(bad.body.detail).toMatch(/exited/)
    const afterRollback = await labelled(docker, env)
    expect(afterRollback.every((c) => c.State === 'running')).toBe(true)
    const mainEnv = (await docker.getContainer(`bannou-${env}-main-1`).inspect()).Config.Env
    expect(mainEnv.some((e) => e.startsWith('SAMPLE_MODE='))).toBe(false)
    events = await outbox(suite.h.ctx)
    expect(events.filter((e) => e.kind === 'lifecycle').map((e) => e.payload.type).slice(-3)).toEqual(['deployment.started', 'deployment.failed', 'deployment.rolled-back'])
    expect((await suite.h.call('GET', '/orchestrator/status')).body.environments.find((e: { name: string }) => e.name === env).revision).toBe(2)

    const history = await suite.h.call('GET', `/orchestrator/deployments?environment=${env}`)
    expect(history.body.deployments.map((d: { status: string }) => d.status)).toEqual(['rolled-back', 'succeeded', 'succeeded', 'succeeded'])

    // Redeploy revision 1 by number.
    const back = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, revision: 1, wait: true })
    expect(back.status, JSON.stringify(back.body)).toBe(200)
    expect((await labelled(docker, env)).map((c) => c.Names[0]).sort()).toEqual([`/bannou-${env}-main-1`, `/bannou-${env}-main-1-dapr`])

    const down = await suite.h.call('POST', '/orchestrator/teardown', { environment: env })
    expect(down.status).toBe(200)
    expect(down.body.removed).toHaveLength(2)
    expect(await labelled(docker, env)).toEqual([])
    events = await outbox(suite.h.ctx)
    expect(mapping('unregister')).toEqual(['accounts@main', 'auth@main'])
  }, 180_000)

  it('answers 202 with a Location at once; a concurrent deploy of the same environment gets 409', async () => {
    const env = suite.environment('c')
    const T = topology([node('solo', ['auth'], { daprEnabled: false })])
    const [a, b] = await Promise.all([
      suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology: T }),
      suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology: T }),
    ])
    const statuses = [a.status, b.status].sort()
    expect(statuses).toEqual([202, 409])
    const accepted = a.status === 202 ? a : b
    const rejected = a.status === 409 ? a : b
    expect(rejected.headers.get('content-type')).toContain('application/problem+json')
    expect(rejected.body.runningDeployment).toBe(accepted.body.deploymentId)
    expect(accepted.headers.get('location')).toBe(`/orchestrator/deployments/${accepted.body.deploymentId}`)
    let final: Record<string, any> = {}
    expect(
      await waitFor(async () => {
        final = (await suite.h.call('GET', accepted.headers.get('location')!)).body
        return final.status !== 'running'
      }, 30_000),
    ).toBe(true)
    expect(final).toMatchObject({ status: 'succeeded', stage: 'done' })
    expect(final.verification).toEqual([expect.objectContaining({ service: 'auth', appId: 'solo', healthy: true })])
    await suite.h.call('POST', '/orchestrator/teardown', { environment: env })
  }, 60_000)

  it('a failed first deploy removes what it created', async () => {
    const env = suite.environment('f')
    const T = topology([node('sick', ['auth'], { daprEnabled: false, environment: { SAMPLE_MODE: 'degraded' } })])
    const r = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology: T, wait: true, verifyTimeoutSeconds: 4 })
    expect(r.status).toBe(502)
    expect(r.body.deployment).toMatchObject({ status: 'rolled-back', result: { rolledBackTo: null } })
    expect(r.body.detail).toMatch(/auth@sick: degraded/)
    expect(await labelled(docker, env)).toEqual([])
  }, 60_000)

  it('rejects an invalid preset with 400 naming the field, and an unknown preset name', async () => {
    const bad = await suite.h.call('POST', '/orchestrator/deploy', { environment: 'x', topology: { nodes: [{ name: 'Bad_Name', services: ['auth'] }] } })
    expect(bad.status).toBe(400)
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'topology.nodes.0.name' })])
    const unknown = await suite.h.call('POST', '/orchestrator/deploy', { preset: 'no-such-preset' })
    expect(unknown.status).toBe(400)
    expect(unknown.body.errors[0].field).toBe('preset')
    const both = await suite.h.call('POST', '/orchestrator/deploy', { preset: 'local-testing', revision: 1 })
    expect(both.status).toBe(400)
  })
})
