import * as v from 'valibot'
import { selectBackend } from '../shared/backends/registry.ts'
import { OrchestratorError } from '../shared/errors.ts'
import { defineFunction } from '../shared/function.ts'
import { readServicesHealth } from '../shared/health/service-health.ts'
import { recommendRestart } from '../shared/health/smart-restart.ts'
import { requestRestart } from '../shared/restarts/request-restart.ts'
import { groupApps, servicesOf } from '../shared/restarts/target.ts'
import { Flag, ServiceName } from './inputs.ts'
import { Priority } from './restart-inputs.ts'

const EnvOverrides = v.optional(
  v.record(
    v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name')),
    v.pipe(v.string('values must be strings'), v.maxLength(4096, 'at most 4096 characters')),
  ),
  {},
)

export default defineFunction({
  name: 'services-restart',
  method: 'POST',
  path: '/orchestrator/services/restart',
  aliases: [{ method: 'POST', path: '/orchestrator/restart' }],
  permission: 'operator',
  runtime: 'node',
  summary: 'Restart every app hosting a service, with optional env overrides; without force only when should-restart recommends it',
  input: v.object({ serviceName: ServiceName, force: v.optional(Flag, false), environment: EnvOverrides, priority: Priority }),
  output: v.looseObject({ serviceName: v.string(), restarted: v.boolean(), reason: v.string() }),
  handler: async ({ serviceName, force, environment, priority }, ctx, meta) => {
    const now = ctx.clock.now()
    const health = await readServicesHealth({ store: ctx.store, keys: ctx.keys, now: () => now }, serviceName)
    const recommendation = recommendRestart(serviceName, health.services[0], now, ctx.config.degradationThresholdMinutes)
    if (!force && !recommendation.shouldRestart) {
      return { serviceName, restarted: false, reason: `not restarted: ${recommendation.reason} (pass force: true to restart anyway)`, recommendation, restarts: [] }
    }
    const backend = await selectBackend(ctx)
    const apps = groupApps(await backend.status()).filter((g) => servicesOf(g.instances[0]!).includes(serviceName))
    if (apps.length === 0) throw new OrchestratorError({ status: 404, code: 'not-found', title: 'Not found', detail: `No running app hosts service "${serviceName}".` })
    const restarts = await Promise.all(
      apps.map(async (g) => {
        try {
          return { ...(await requestRestart(ctx, { appName: g.app, environment: g.environment, reason: force ? `services/restart ${serviceName} (forced)` : `services/restart ${serviceName}: ${recommendation.reason}`, priority, env: environment, requestedBy: meta.principal ?? `request ${meta.requestId}` })) }
        } catch (e) {
          if (e instanceof OrchestratorError) return { appName: g.appId, environment: g.environment, accepted: false, status: e.status, error: e.detail, ...(e.retryAfterSeconds ? { retryAfterSeconds: e.retryAfterSeconds } : {}) }
          throw e
        }
      }),
    )
    const reason = force ? 'forced' : recommendation.reason
    return { serviceName, restarted: restarts.some((r) => r.accepted), reason, recommendation, environmentOverrides: Object.keys(environment), restarts }
  },
})
