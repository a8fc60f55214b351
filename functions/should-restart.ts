import * as v from 'valibot'
import { defineFunction } from '../shared/function.ts'
import { readServicesHealth } from '../shared/health/service-health.ts'
import { recommendRestart } from '../shared/health/smart-restart.ts'
import { ServiceName } from './inputs.ts'

export default defineFunction({
  name: 'should-restart',
  method: 'POST',
  path: '/orchestrator/services/should-restart',
  permission: 'viewer',
  runtime: 'edge',
  summary: 'Smart-restart recommendation: restart only when unavailable or degraded beyond the threshold',
  input: v.object({ serviceName: ServiceName }),
  output: v.object({
    serviceName: v.string(),
    shouldRestart: v.boolean(),
    currentStatus: v.picklist(['healthy', 'degraded', 'unavailable']),
    reason: v.string(),
    degradedSince: v.nullable(v.string()),
    degradedDurationSeconds: v.nullable(v.number()),
    thresholdMinutes: v.number(),
  }),
  handler: async ({ serviceName }, ctx) => {
    const now = ctx.clock.now()
    const report = await readServicesHealth({ store: ctx.store, keys: ctx.keys, now: () => now }, serviceName)
    return recommendRestart(serviceName, report.services[0], now, ctx.config.degradationThresholdMinutes)
  },
})
