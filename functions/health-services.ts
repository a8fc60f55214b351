import * as v from 'valibot'
import type { Context } from '../shared/context.ts'
import { defineFunction, SerializedJson } from '../shared/function.ts'
import { createReadCache, type ReadCache } from '../shared/health/read-cache.ts'
import { readServicesHealth, type ServicesHealthReport } from '../shared/health/service-health.ts'
import { ServiceName } from './inputs.ts'

const caches = new WeakMap<Context['config'], ReadCache<SerializedJson<ServicesHealthReport>>>()
const cacheFor = (ctx: Context) => {
  let cache = caches.get(ctx.config)
  if (!cache) caches.set(ctx.config, (cache = createReadCache(ctx.config.healthCacheMs, ctx.clock.now)))
  return cache
}

export default defineFunction({
  name: 'health-services',
  method: 'GET',
  path: '/orchestrator/health/services',
  aliases: [{ method: 'GET', path: '/orchestrator/services' }],
  permission: 'viewer',
  runtime: 'edge',
  cacheable: true,
  summary: 'Service health from heartbeats: worst-case status per service, instances, capacity, last-seen age',
  input: v.object({ service: v.optional(ServiceName) }),
  output: v.object({
    status: v.picklist(['healthy', 'degraded', 'unavailable', 'unknown']),
    checkedAt: v.string(),
    services: v.array(v.object({ serviceName: v.string(), status: v.string() })),
    counts: v.object({}),
  }),
  handler: async ({ service }, ctx) =>
    cacheFor(ctx).get(service ?? '*', async () =>
      SerializedJson.of(await readServicesHealth({ store: ctx.store, keys: ctx.keys, now: ctx.clock.now }, service)),
    ),
})
