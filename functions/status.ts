import * as v from 'valibot'
import { selectBackend } from '../shared/backends/registry.ts'
import type { Backend, Unit } from '../shared/backends/types.ts'
import { defineFunction } from '../shared/function.ts'
import { listEnvironments, readEnvironment } from '../shared/environments/records.ts'
import { errorMessage } from '../shared/errors.ts'

export default defineFunction({
  name: 'status',
  method: 'GET',
  path: '/orchestrator/status',
  permission: 'viewer',
  runtime: 'edge',
  summary: 'Orchestrator version, uptime, mode, backend and current environments (nodes, containers, states, revision)',
  input: v.object({}),
  output: v.looseObject({ version: v.string(), uptimeSeconds: v.number() }),
  handler: async (_input, ctx) => {
    let backend: Backend | undefined
    let backendInfo: Record<string, unknown> = { selected: null, detail: `no container backend on the ${ctx.platform.name} runtime` }
    if (ctx.platform.backendDrivers) {
      try {
        backend = await selectBackend(ctx)
        const p = await backend.probe()
        backendInfo = { selected: backend.name, version: p.version, detail: p.detail, capabilities: backend.capabilities }
      } catch (e) {
        backendInfo = { selected: null, detail: errorMessage(e) }
      }
    }
    const units: Unit[] = backend ? await backend.status().catch(() => []) : []
    const names = [...new Set([...(await listEnvironments(ctx)), ...units.map((u) => u.environment)])].sort()
    const environments = await Promise.all(
      names.map(async (name) => {
        const s = await readEnvironment(ctx, name)
        const mine = units.filter((u) => u.environment === name)
        return {
          name,
          revision: s.current?.number ?? null,
          preset: s.current?.preset.name ?? null,
          deployedAt: s.current?.deployedAt ?? null,
          deploymentInProgress: s.inProgress?.deploymentId ?? null,
          nodes: (s.current?.preset.nodes ?? []).map((n) => ({ name: n.name, services: n.services, replicas: n.replicas, appId: n.daprAppId, daprEnabled: n.daprEnabled })),
          containers: mine.map((u) => ({ name: u.name, app: u.app, role: u.role, replica: u.replica, revision: u.revision, image: u.image, state: u.state, status: u.status })),
        }
      }),
    )
    return {
      service: 'bannou-orchestrator',
      version: ctx.version,
      uptimeSeconds: Math.round((ctx.clock.now() - ctx.startedAt) / 1000),
      mode: ctx.config.embedded ? 'embedded' : 'persistent',
      store: { driver: ctx.store.driver, state: ctx.store.state() },
      events: { broker: ctx.broker.state() },
      backend: backendInfo,
      environments,
    }
  },
})
