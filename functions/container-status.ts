import * as v from 'valibot'
import type { Context } from '../shared/context.ts'
import { defineFunction } from '../shared/function.ts'
import { readServicesHealth } from '../shared/health/service-health.ts'
import { readHistory } from '../shared/restarts/executor.ts'
import { resolveTarget } from '../shared/restarts/target.ts'
import { asString } from '../shared/store/ops.ts'
import { AppName, OptionalEnvironment } from './restart-inputs.ts'

const readJson = async (ctx: Context, key: string) => {
  const raw = asString(await ctx.store.call(['GET', key]))
  return raw ? (JSON.parse(raw) as Record<string, unknown>) : null
}

export default defineFunction({
  name: 'container-status',
  method: 'GET',
  path: '/orchestrator/containers/:appName/status',
  permission: 'viewer',
  runtime: 'node',
  summary: 'One app: its instances and backend state, health from heartbeats, pending/running restart and restart history',
  input: v.object({ appName: AppName, environment: OptionalEnvironment }),
  output: v.looseObject({ appName: v.string(), instances: v.array(v.unknown()), restartHistory: v.array(v.unknown()) }),
  handler: async ({ appName, environment }, ctx) => {
    const t = await resolveTarget(ctx, appName, environment)
    const now = ctx.clock.now()
    const report = await readServicesHealth({ store: ctx.store, keys: ctx.keys, now: () => now })
    const services = t.services.map((s) => {
      const h = report.services.find((x) => x.serviceName === s)
      const mine = h?.instances.filter((i) => i.appId === t.appId) ?? []
      return { serviceName: s, status: mine.length === 0 ? 'unavailable' : mine.every((i) => i.status === 'healthy') ? 'healthy' : 'degraded', heartbeats: mine }
    })
    return {
      appName: t.appId,
      app: t.app,
      environment: t.environment,
      backend: t.backend.name,
      health: services.length === 0 ? 'unknown' : services.every((s) => s.status === 'healthy') ? 'healthy' : services.some((s) => s.status !== 'unavailable') ? 'degraded' : 'unavailable',
      instances: t.instances.map((u) => ({ unit: u.name, replica: u.replica, state: u.state, status: u.status, revision: u.revision, image: u.image, createdAt: u.createdAt })),
      services,
      pendingRestart: await readJson(ctx, ctx.keys.restartPending(t.appId)),
      runningRestart: await readJson(ctx, ctx.keys.restartRunning(t.appId)),
      restartHistory: await readHistory(ctx, t.appId),
    }
  },
})
