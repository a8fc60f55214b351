import { describe, expect, it } from 'vitest'
import { drainOutbox } from '../../shared/events/relay.ts'
import { RABBITMQ } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { labelled, useDeploySuite } from './deploy-support.ts'

/**
 * Issue 4, item 10 end to end: the sample service embeds the service-kit mapping resolver, so
 * a deploy's register events (outbox -> relay -> RabbitMQ) reach the deployed service itself,
 * and teardown's unregister events take the mappings back out, in a running container.
 */
const suite = useDeploySuite({ ORCHESTRATOR_RABBITMQ_CONNECTION: RABBITMQ, ORCHESTRATOR_EXTERNAL_RABBITMQ: '127.0.0.1:5672' })
const { docker } = suite
const env = suite.environment('map')
const appId = `maps-${env}`

interface Mappings {
  bound: boolean
  mappings: Record<string, string>
}
const mappingsAt = (port: string) =>
  fetch(`http://127.0.0.1:${port}/mappings`, { signal: AbortSignal.timeout(1000) }).then(
    async (r) => (await r.json()) as Mappings,
    () => null,
  )

describe('the sample service consumes service-mapping events', () => {
  it('learns its own mappings from a deploy and keeps them current through a second app', async () => {
    const services = [`alpha-${env}`, `beta-${env}`]
    const topology = { name: 'maps', nodes: [{ name: 'maps', services, daprAppId: appId }], infrastructure: { redis: { external: '127.0.0.1:6379' }, rabbitmq: { external: '127.0.0.1:5672' } } }
    const d = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })
    expect(d.status, JSON.stringify(d.body)).toBe(200)

    const [container] = await labelled(docker, env)
    const spec = JSON.parse(container!.Labels['bannou.spec']!) as { env: Record<string, string>; extraHosts: string[] }
    // The reference's ExtraHosts pattern: a stable hostname, resolved to the external address.
    expect(spec.env.BANNOU_RabbitMqConnectionString).toBe('amqp://guest:guest@rabbitmq:5672')
    expect(spec.extraHosts).toContain('rabbitmq:127.0.0.1')
    const port = spec.env.PORT!
    // The service binds its queue at start; events published before that would pass it by.
    expect(await waitFor(async () => (await mappingsAt(port))?.bound === true, 15_000)).toBe(true)

    const relayed = await drainOutbox(suite.h.ctx, { budgetMs: 10_000 })
    expect(relayed.error).toBeUndefined()
    const expected = Object.fromEntries(services.map((s) => [s, appId]))
    expect(await waitFor(async () => JSON.stringify((await mappingsAt(port))?.mappings) === JSON.stringify(expected), 10_000)).toBe(true)

    // Moving one service to a second node: an update event re-points it in the running first app.
    const moved = { ...topology, nodes: [{ name: 'maps', services: [services[0]], daprAppId: appId }, { name: 'other', services: [services[1]], daprAppId: `${appId}-b` }] }
    const d2 = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology: moved, wait: true })
    expect(d2.status, JSON.stringify(d2.body)).toBe(200)
    // Its environment changed, so the first app was recreated: wait for the new one to bind.
    const [first] = (await labelled(docker, env)).filter((c) => c.Labels['bannou.app'] === 'maps' && c.Labels['bannou.role'] === 'app')
    const firstPort = (JSON.parse(first!.Labels['bannou.spec']!) as { env: Record<string, string> }).env.PORT!
    expect(await waitFor(async () => (await mappingsAt(firstPort))?.bound === true, 15_000)).toBe(true)
    await drainOutbox(suite.h.ctx, { budgetMs: 10_000 })
    expect(await waitFor(async () => (await mappingsAt(firstPort))?.mappings[services[1]!] === `${appId}-b`, 10_000)).toBe(true)

    // Restarted, it missed those events: it catches up from the routing cache once bound.
    await docker.getContainer(first!.Id).restart({ t: 1 })
    expect(await waitFor(async () => (await mappingsAt(firstPort))?.bound === true, 15_000)).toBe(true)
    expect((await mappingsAt(firstPort))?.mappings).toEqual({ [services[0]!]: appId, [services[1]!]: `${appId}-b` })
  }, 120_000)
})
