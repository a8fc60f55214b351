import { describe, expect, it } from 'vitest'
import { backendInstance } from '../../shared/backends/registry.ts'
import { waitFor } from '../support/services.ts'
import { labelled, useDeploySuite } from './deploy-support.ts'

/** Compose backend scale(): replicas added beside the running ones (own names, labels, ports, sidecars) and removed highest first. */
const suite = useDeploySuite()
const { docker } = suite
const env = suite.environment('cs')

const names = async () => (await labelled(docker, env)).map((c) => c.Names[0]!.slice(1)).sort()
const specOf = async (name: string) => JSON.parse((await docker.getContainer(name).inspect()).Config.Labels['bannou.spec']!) as { env: Record<string, string>; hostPorts: number[]; command?: string[]; replica: number }
const ok = (url: string) => fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.status < 300, () => false)

describe('compose backend scale', () => {
  it('adds replicas with their own ports and sidecars, then removes the highest ones', async () => {
    const topology = { name: 'scale', nodes: [{ name: 'web', services: [`svc-${env}`], daprEnabled: true, daprAppId: `app-${env}` }], infrastructure: { redis: { external: '127.0.0.1:6379' } } }
    const d = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })
    expect(d.status, JSON.stringify(d.body)).toBe(200)
    const backend = backendInstance(suite.h.ctx, 'compose')!
    const svc = `bannou-${env}-web`

    await backend.scale(svc, 3)
    expect(await names()).toEqual([1, 2, 3].flatMap((r) => [`${svc}-${r}`, `${svc}-${r}-dapr`]).sort())
    const ports = new Set<number>()
    for (const r of [1, 2, 3]) {
      const app = await specOf(`${svc}-${r}`)
      const side = await specOf(`${svc}-${r}-dapr`)
      expect(app.replica).toBe(r)
      expect(app.env.BANNOU_InstanceName).toBe(`${svc}-${r}`)
      expect(app.env.PORT).toBe(String(app.hostPorts[0]))
      // The sidecar points at its own app's port, and the app at its own sidecar.
      expect(side.command![side.command!.indexOf('--app-port') + 1]).toBe(app.env.PORT)
      expect(app.env.DAPR_HTTP_ENDPOINT).toBe(`http://${svc}-${r}-dapr:${side.hostPorts[0]}`)
      for (const p of [...app.hostPorts, ...side.hostPorts]) ports.add(p)
      expect(await waitFor(() => ok(`http://127.0.0.1:${app.env.PORT}/health`), 15_000)).toBe(true)
      expect(await waitFor(() => ok(`http://127.0.0.1:${side.hostPorts[0]}/v1.0/healthz`), 15_000)).toBe(true)
    }
    expect(ports.size).toBe(9)
    const labels = (await docker.getContainer(`${svc}-3`).inspect()).Config.Labels
    expect(labels).toMatchObject({ 'bannou.managed': 'true', 'bannou.environment': env, 'bannou.app': 'web', 'bannou.role': 'app', 'bannou.replica': '3' })
    // The preset still says 1 replica: the next deploy plans to remove the extra ones, nothing else.
    const plan = (await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology, dryRun: true })).body
    expect(plan.plan.summary, JSON.stringify(plan.plan.actions)).toMatchObject({ create: 0, recreate: 0, remove: 4 })

    await backend.scale(svc, 1)
    expect(await names()).toEqual([`${svc}-1`, `${svc}-1-dapr`])
    await expect(backend.scale(`bannou-${env}-nothing`, 2)).rejects.toThrow(/no running replicas/)
  }, 120_000)

  it('secret values are env variables (compose: .env only); the spec label holds digests; scale copies the value', async () => {
    const backend = backendInstance(suite.h.ctx, 'compose')!
    const port = 20000 + Math.floor(Math.random() * 12000)
    const name = `bannou-${env}-vault-1`
    const spec = { name, environment: env, app: 'vault', role: 'app' as const, replica: 1, image: suite.images.sample, env: { PORT: String(port) }, extraHosts: [], hostPorts: [port], secrets: { API_TOKEN: 'compose-value' } }
    const r = await backend.apply({ environment: env, revision: 1, actions: [{ action: 'create', unit: name, app: 'vault', role: 'app', reasons: [], spec }], summary: { create: 1, recreate: 0, remove: 0, unchanged: 0 } }, { revision: 1, deploymentId: 'secret-test' })
    expect(r.results[0]!.ok, JSON.stringify(r)).toBe(true)
    const info = await docker.getContainer(name).inspect()
    expect(info.Config.Env).toContain('API_TOKEN=compose-value')
    expect(info.Config.Labels['bannou.spec']).not.toContain('compose-value')
    expect(JSON.parse(info.Config.Labels['bannou.spec']!).secrets.API_TOKEN).toMatch(/^sha256:[0-9a-f]{64}$/)
    await backend.scale(`bannou-${env}-vault`, 2)
    expect((await docker.getContainer(`bannou-${env}-vault-2`).inspect()).Config.Env).toContain('API_TOKEN=compose-value')
  }, 60_000)
})
