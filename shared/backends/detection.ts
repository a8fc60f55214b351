import type { BackendName } from '../config.ts'
import type { Context } from '../context.ts'
import { BACKEND_PRIORITY, backendInstance } from './registry.ts'
import type { Capabilities } from './types.ts'
import { errorMessage } from '../errors.ts'

/**
 * The reference's capability matrix ("Backend Capabilities Matrix"), used for backends whose
 * driver is not present on this runtime; a present driver reports its own (truthful) set.
 */
export const REFERENCE_CAPABILITIES: Record<BackendName, Capabilities> = {
  kubernetes: { liveTopology: 'full', scaling: true, rollingUpdate: true, secrets: 'native', volumes: true, networks: true },
  portainer: { liveTopology: 'full', scaling: true, rollingUpdate: true, secrets: 'api', volumes: true, networks: true },
  swarm: { liveTopology: 'full', scaling: true, rollingUpdate: true, secrets: 'native', volumes: true, networks: true },
  compose: { liveTopology: 'limited', scaling: false, rollingUpdate: false, secrets: 'env-only', volumes: true, networks: true },
}

export interface BackendReport {
  name: BackendName
  priority: number
  available: boolean
  reason: string
  version: string | null
  capabilities: Capabilities
  /** Restart strategies the orchestrator runs on it (compose gets rolling restarts from us, not from the engine). */
  restartStrategies: ('graceful' | 'immediate' | 'force')[]
}

export interface DetectionReport {
  preferred: 'auto' | BackendName
  selected: BackendName | null
  /** Why `selected` is what it is (or why nothing is). */
  selection: string
  detectedAt: string
  cached: boolean
  backends: BackendReport[]
}

/** Why a backend without a driver here is unavailable: the configuration it would need. */
function notConfigured(ctx: Context, name: BackendName): string {
  if (name === 'kubernetes')
    return ctx.config.kubernetesConfig
      ? `ORCHESTRATOR_KUBERNETES_CONFIG is set but no Kubernetes driver is available on the ${ctx.platform.name} runtime`
      : 'not configured (set ORCHESTRATOR_KUBERNETES_CONFIG)'
  if (name === 'portainer')
    return ctx.config.portainerUrl
      ? `ORCHESTRATOR_PORTAINER_URL is set but no Portainer driver is available on the ${ctx.platform.name} runtime`
      : 'not configured (set ORCHESTRATOR_PORTAINER_URL and ORCHESTRATOR_PORTAINER_API_KEY)'
  return `no ${name} driver on the ${ctx.platform.name} runtime`
}

const cache = new WeakMap<Context, { at: number; report: DetectionReport }>()

/** Probes every backend in priority order (in parallel); cached for ORCHESTRATOR_BACKEND_CACHE_SECONDS. */
export async function detect(ctx: Context, opts: { refresh?: boolean } = {}): Promise<DetectionReport> {
  const hit = cache.get(ctx)
  const now = ctx.clock.now()
  if (hit && !opts.refresh && now - hit.at < ctx.config.backendCacheSeconds * 1000) return { ...hit.report, cached: true }
  const backends = await Promise.all(
    BACKEND_PRIORITY.map(async (name, i): Promise<BackendReport> => {
      const b = backendInstance(ctx, name)
      const strategies = b ? (['graceful', 'immediate', 'force'] as const).filter(() => typeof b.restartApp === 'function') : []
      if (!b) return { name, priority: i + 1, available: false, reason: notConfigured(ctx, name), version: null, capabilities: REFERENCE_CAPABILITIES[name], restartStrategies: [] }
      const p = await b.probe().catch((e: unknown) => ({ available: false, detail: errorMessage(e), version: undefined }))
      return { name, priority: i + 1, available: p.available, reason: p.detail, version: p.version ?? null, capabilities: b.capabilities, restartStrategies: [...strategies] }
    }),
  )
  const preferred = ctx.config.preferredBackend
  let selected: BackendName | null = null
  let selection: string
  if (preferred === 'auto') {
    selected = backends.find((b) => b.available)?.name ?? null
    selection = selected ? `auto: ${selected} is the most capable available backend` : 'auto: no backend is available'
  } else {
    const want = backends.find((b) => b.name === preferred)!
    selected = want.available ? preferred : null
    selection = want.available
      ? `ORCHESTRATOR_PREFERRED_BACKEND=${preferred}`
      : `ORCHESTRATOR_PREFERRED_BACKEND=${preferred}, which is unavailable (${want.reason}); deploys fail with 503, there is no fallback`
  }
  const report: DetectionReport = { preferred, selected, selection, detectedAt: new Date(now).toISOString(), cached: false, backends }
  cache.set(ctx, { at: now, report })
  return report
}
