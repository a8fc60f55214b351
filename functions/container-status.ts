import * as v from 'valibot'
import type { Context } from '../shared/context.ts'
import { notFound } from '../shared/errors.ts'
import { defineFunction } from '../shared/function.ts'
import { readServicesHealth } from '../shared/health/service-health.ts'
import { readHistory } from '../shared/restarts/executor.ts'
import { findRecordedApp, resolveTarget } from '../shared/restarts/target.ts'
import { asString } from '../shared/store/ops.ts'
import { AppName, OptionalEnvironment } from './restart-inputs.ts'

const readJson = async (ctx: Context, key: string) => {
  const raw = asString(await ctx.store.call(['GET', key]))
  return raw ? (JSON.parse(raw) as Record<string, unknown>) : null
}

const NOT_VISIBLE = 'not visible from this runtime'

/** The app as this runtime can see it: through the backend (Node), or from Redis alone (edge). */
interface View {
  appId: string
  app: string | null
  environment: string | null
  backend: string | null
  /** Services it hosts; null = unknown, take every service that heartbeats under its app id. */
  services: string[] | null
  instances: Record<string, unknown>[]
}

async function backendView(ctx: Context, appName: string, environment?: string): Promise<View> {
  const t = await resolveTarget(ctx, appName, environment)
  return {
    appId: t.appId,
    app: t.app,
    environment: t.environment,
    backend: t.backend.name,
    services: t.services,
    instances: t.instances.map((u) => ({ unit: u.name, replica: u.replica, state: u.state, status: u.status, revision: u.revision, image: u.image, createdAt: u.createdAt })),
  }
}

/** Edge: instances as the current revision records them, their backend state unknown here. */
async function redisView(ctx: Context, appName: string, environment?: string): Promise<View> {
  const r = await findRecordedApp(ctx, appName, environment)
  if (!r) return { appId: appName, app: null, environment: environment ?? null, backend: null, services: null, instances: [] }
  return {
    appId: r.appId,
    app: r.app,
    environment: r.environment,
    backend: null,
    services: r.services,
    instances: r.units.map((u) => ({ unit: u.name, replica: u.replica, state: NOT_VISIBLE, image: u.image })),
  }
}

export default defineFunction({
  name: 'container-status',
  method: 'GET',
  path: '/orchestrator/containers/:appName/status',
  permission: 'viewer',
  runtime: 'edge',
  summary:
    'One app: its instances and backend state, health from heartbeats, pending/running restart and restart history (on an edge runtime: instances from the recorded revision, backend state not visible)',
  input: v.object({ appName: AppName, environment: OptionalEnvironment }),
  output: v.looseObject({ appName: v.string(), instances: v.array(v.unknown()), restartHistory: v.array(v.unknown()) }),
  handler: async ({ appName, environment }, ctx) => {
    const onBackend = ctx.platform.backendDrivers !== undefined
    const t = onBackend ? await backendView(ctx, appName, environment) : await redisView(ctx, appName, environment)
    const now = ctx.clock.now()
    const report = await readServicesHealth({ store: ctx.store, keys: ctx.keys, now: () => now })
    const names = t.services ?? report.services.filter((s) => s.instances.some((i) => i.appId === t.appId)).map((s) => s.serviceName)
    const services = names.map((s) => {
      const h = report.services.find((x) => x.serviceName === s)
      const mine = h?.instances.filter((i) => i.appId === t.appId) ?? []
      return { serviceName: s, status: mine.length === 0 ? 'unavailable' : mine.every((i) => i.status === 'healthy') ? 'healthy' : 'degraded', heartbeats: mine }
    })
    const [pendingRestart, runningRestart, restartHistory] = await Promise.all([
      readJson(ctx, ctx.keys.restartPending(t.appId)),
      readJson(ctx, ctx.keys.restartRunning(t.appId)),
      readHistory(ctx, t.appId),
    ])
    if (!onBackend && t.app === null && services.length === 0 && !pendingRestart && !runningRestart && restartHistory.length === 0) {
      throw notFound(`Nothing is known about app "${appName}": no deployed revision, heartbeat or restart names it.`)
    }
    return {
      appName: t.appId,
      app: t.app,
      environment: t.environment,
      backend: t.backend,
      ...(onBackend ? {} : { backendState: `${NOT_VISIBLE}: the ${ctx.platform.name} runtime has no container backend; instances come from the recorded revision, health from heartbeats` }),
      health: services.length === 0 ? 'unknown' : services.every((s) => s.status === 'healthy') ? 'healthy' : services.some((s) => s.status !== 'unavailable') ? 'degraded' : 'unavailable',
      instances: t.instances,
      services,
      pendingRestart,
      runningRestart,
      restartHistory,
    }
  },
})
