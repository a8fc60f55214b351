import * as v from 'valibot'
import { defineFunction } from '../shared/function.ts'
import { readServicesHealth } from '../shared/health/service-health.ts'
import { ServiceName } from './inputs.ts'

export default defineFunction({
  name: 'health-services',
  method: 'GET',
  path: '/orchestrator/health/services',
  aliases: [{ method: 'GET', path: '/orchestrator/services' }],
  permission: 'viewer',
  runtime: 'edge',
  summary: 'Service health from heartbeats: worst-case status per service, instances, capacity, last-seen age',
  input: v.object({ service: v.optional(ServiceName) }),
  output: v.object({
    status: v.picklist(['healthy', 'degraded', 'unavailable', 'unknown']),
    checkedAt: v.string(),
    services: v.array(v.object({ serviceName: v.string(), status: v.string() })),
    counts: v.object({}),
  }),
  handler: async ({ service }, ctx) => readServicesHealth({ store: ctx.store, keys: ctx.keys, now: ctx.clock.now }, service),
})
