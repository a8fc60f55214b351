import * as v from 'valibot'
import { defineFunction } from '../shared/function.ts'

export default defineFunction({
  name: 'status',
  method: 'GET',
  path: '/orchestrator/status',
  permission: 'viewer',
  runtime: 'edge',
  summary: 'Orchestrator version, uptime, mode, backend and current environment',
  input: v.object({}),
  output: v.looseObject({ version: v.string(), uptimeSeconds: v.number() }),
  handler: async (_input, ctx) => ({
    service: 'bannou-orchestrator',
    version: ctx.version,
    uptimeSeconds: Math.round((ctx.clock.now() - ctx.startedAt) / 1000),
    mode: ctx.config.embedded ? 'embedded' : 'persistent',
    store: { driver: ctx.store.driver, state: ctx.store.state() },
    events: { broker: ctx.broker.state() },
    backend: { selected: null, detail: 'not yet detected: backend detection arrives with the deploy engine' },
    environments: [],
  }),
})
