import * as v from 'valibot'
import { defineFunction } from '../shared/function.ts'
import { ServiceHeartbeatEvent } from '../shared/heartbeats/schema.ts'
import { writeHeartbeat } from '../shared/heartbeats/write.ts'

export default defineFunction({
  name: 'heartbeats',
  method: 'POST',
  path: '/orchestrator/heartbeats',
  permission: 'operator',
  runtime: 'edge',
  summary: 'Accepts a ServiceHeartbeatEvent over HTTP for services that cannot reach Redis',
  input: ServiceHeartbeatEvent,
  output: v.object({ accepted: v.boolean(), key: v.string(), ttlSeconds: v.number() }),
  handler: async (event, ctx) => {
    const ttlSeconds = ctx.config.heartbeatTimeoutSeconds
    const hb = await writeHeartbeat({ store: ctx.store, keys: ctx.keys, ttlSeconds, now: ctx.clock.now }, event)
    return { accepted: true, key: ctx.keys.heartbeat(hb.serviceId, hb.appId), ttlSeconds }
  },
})
