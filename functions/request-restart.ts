import * as v from 'valibot'
import { defineFunction, respond } from '../shared/function.ts'
import { requestRestart } from '../shared/restarts/request-restart.ts'
import { AppName, GraceSeconds, OptionalEnvironment, Priority } from './restart-inputs.ts'

export default defineFunction({
  name: 'request-restart',
  method: 'POST',
  path: '/orchestrator/containers/:appName/request-restart',
  permission: 'operator',
  runtime: 'edge',
  summary:
    'Self-service restart request (plugins call this): coalesced per app, one running restart per app, 429 beyond the restart budget; on an edge runtime the request is queued in Redis and a Node orchestrator runs it',
  input: v.object({
    appName: AppName,
    reason: v.optional(v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(500, 'at most 500 characters')), 'unspecified'),
    priority: Priority,
    shutdownGracePeriod: GraceSeconds,
    environment: OptionalEnvironment,
    maxParallel: v.optional(v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1, 'must be ≥ 1'), v.maxValue(100, 'must be ≤ 100'))),
  }),
  output: v.looseObject({ accepted: v.boolean(), appName: v.string(), scheduledFor: v.string(), currentInstances: v.nullable(v.number()), restartStrategy: v.string() }),
  handler: async (input, ctx, meta) => {
    const r = await requestRestart(ctx, { ...input, requestedBy: meta.principal ?? `request ${meta.requestId}` })
    return respond(202, { ...r }, { location: `/orchestrator/containers/${encodeURIComponent(r.appName)}/status` })
  },
})
