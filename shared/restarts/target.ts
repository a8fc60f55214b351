import { selectBackend } from '../backends/registry.ts'
import type { Backend, Unit, UnitSpec } from '../backends/types.ts'
import type { Context } from '../context.ts'
import { listEnvironments, readEnvironment } from '../environments/records.ts'
import { conflict, notFound } from '../errors.ts'

/** An app (a node of a preset) as it runs now: its instances and the services it hosts. */
export interface RestartTarget {
  backend: Backend
  environment: string
  /** Node name: the bannou.app label. */
  app: string
  /** Dapr app id: what heartbeats and request-restart callers use. */
  appId: string
  instances: Unit[]
  services: string[]
}

export const appIdOf = (u: Unit) => u.spec?.env.DAPR_APP_ID ?? u.app

/** Services a unit hosts: its `{SERVICE}_SERVICE_ENABLED=true` variables (the Assembly Loading Pattern). */
export const servicesOf = (u: Pick<Unit, 'spec'>) =>
  Object.entries(u.spec?.env ?? {})
    .filter(([k, v]) => k.endsWith('_SERVICE_ENABLED') && v === 'true')
    .map(([k]) => k.slice(0, -'_SERVICE_ENABLED'.length).toLowerCase().replace(/_/g, '-'))
    .sort()

/** An app as its environment's current revision records it (Redis only: what an edge runtime can know). */
export interface RecordedApp {
  environment: string
  app: string
  appId: string
  units: UnitSpec[]
  services: string[]
}

/** Every app of every environment's current revision. */
export async function recordedApps(ctx: Context): Promise<RecordedApp[]> {
  const out: RecordedApp[] = []
  for (const environment of await listEnvironments(ctx)) {
    const current = (await readEnvironment(ctx, environment)).current
    const groups = new Map<string, UnitSpec[]>()
    for (const u of current?.desired.units ?? []) if (u.role === 'app') groups.set(u.app, [...(groups.get(u.app) ?? []), u])
    for (const [app, units] of groups) out.push({ environment, app, appId: units[0]!.env.DAPR_APP_ID ?? app, units, services: servicesOf({ spec: units[0]! }) })
  }
  return out
}

/**
 * The recorded app named by Dapr app id or node name: null when no current revision has it,
 * 409 when several environments do and none was named (the same rule as resolveTarget).
 */
export async function findRecordedApp(ctx: Context, appName: string, environment?: string): Promise<RecordedApp | null> {
  const matches = (await recordedApps(ctx)).filter((a) => (a.appId === appName || a.app === appName) && (!environment || a.environment === environment))
  if (matches.length > 1) {
    throw conflict(`App "${appName}" is deployed in several places (${matches.map((m) => `${m.environment}/${m.app}`).join(', ')}); name the environment.`, {
      candidates: matches.map((m) => ({ environment: m.environment, app: m.app })),
    })
  }
  return matches[0] ?? null
}

/** Every app of every environment, grouped (GET /orchestrator/containers). */
export function groupApps(units: Unit[]): { environment: string; app: string; appId: string; instances: Unit[] }[] {
  const groups = new Map<string, { environment: string; app: string; appId: string; instances: Unit[] }>()
  for (const u of units.filter((x) => x.role === 'app')) {
    const k = `${u.environment}/${u.app}`
    const g = groups.get(k) ?? { environment: u.environment, app: u.app, appId: appIdOf(u), instances: [] }
    g.instances.push(u)
    groups.set(k, g)
  }
  return [...groups.values()].sort((a, b) => a.environment.localeCompare(b.environment) || a.app.localeCompare(b.app))
}

/** Finds the app by Dapr app id or node name; 404 when nothing runs it, 409 when it runs in several environments and none was named. */
export async function resolveTarget(ctx: Context, appName: string, environment?: string): Promise<RestartTarget> {
  const backend = await selectBackend(ctx)
  const units = await backend.status(environment)
  const matches = groupApps(units).filter((g) => g.appId === appName || g.app === appName)
  if (matches.length === 0) throw notFound(`No running app "${appName}"${environment ? ` in environment "${environment}"` : ''} (matched by Dapr app id or node name).`)
  if (matches.length > 1) {
    throw conflict(`App "${appName}" runs in several places (${matches.map((m) => `${m.environment}/${m.app}`).join(', ')}); name the environment.`, {
      candidates: matches.map((m) => ({ environment: m.environment, app: m.app })),
    })
  }
  const g = matches[0]!
  return { backend, environment: g.environment, app: g.app, appId: g.appId, instances: g.instances, services: servicesOf(g.instances[0]!) }
}

/**
 * Dapr app ids and node names of every app a deployment of ours runs, for callers that must
 * tell managed apps from foreign ones in bulk. Empty when no backend answers.
 */
export async function managedAppIds(ctx: Context): Promise<Set<string>> {
  // No backend on this runtime (edge): the recorded revisions say what our deployments run.
  if (!ctx.platform.backendDrivers) return new Set((await recordedApps(ctx)).flatMap((a) => [a.appId, a.app]))
  try {
    const backend = await selectBackend(ctx)
    return new Set(groupApps(await backend.status()).flatMap((g) => [g.appId, g.app]))
  } catch {
    return new Set()
  }
}
