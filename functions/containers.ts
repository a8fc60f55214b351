import * as v from 'valibot'
import { selectBackend } from '../shared/backends/registry.ts'
import { defineFunction } from '../shared/function.ts'
import { groupApps, servicesOf } from '../shared/restarts/target.ts'
import { OptionalEnvironment } from './restart-inputs.ts'

export default defineFunction({
  name: 'containers',
  method: 'GET',
  path: '/orchestrator/containers',
  permission: 'viewer',
  runtime: 'node',
  summary: 'Container status: every app (node) of every environment with its instances (the reference Makefile section)',
  input: v.object({ environment: OptionalEnvironment }),
  output: v.looseObject({ backend: v.string(), apps: v.array(v.unknown()) }),
  handler: async ({ environment }, ctx) => {
    const backend = await selectBackend(ctx)
    const units = await backend.status(environment)
    return {
      backend: backend.name,
      apps: groupApps(units).map((g) => ({
        appName: g.appId,
        app: g.app,
        environment: g.environment,
        services: servicesOf(g.instances[0]!),
        running: g.instances.filter((u) => u.state === 'running').length,
        instances: g.instances.map((u) => ({ unit: u.name, replica: u.replica, state: u.state, status: u.status, revision: u.revision })),
      })),
    }
  },
})
