import type { BackendName } from '../config.ts'
import type { Context } from '../context.ts'
import { dependencyUnavailable, OrchestratorError } from '../errors.ts'
import type { Backend, Probe } from './types.ts'

/** Detection order of the reference ("Backend Priority System"): the most capable first. */
export const BACKEND_PRIORITY: readonly BackendName[] = ['kubernetes', 'portainer', 'swarm', 'compose']

const selected = new WeakMap<Context, Promise<Backend>>()
const instances = new WeakMap<Context, Map<BackendName, Backend>>()

/** A driver instance per context; drivers come from the platform (dockerode is Node-only). */
export function backendInstance(ctx: Context, name: BackendName): Backend | undefined {
  const driver = ctx.platform.backendDrivers?.[name]
  if (!driver) return undefined
  let map = instances.get(ctx)
  if (!map) instances.set(ctx, (map = new Map()))
  let b = map.get(name)
  if (!b) map.set(name, (b = driver(ctx.config)))
  return b
}

export interface Detection {
  name: BackendName
  registered: boolean
  probe?: Probe
}

/** Probes every registered driver (in priority order), for GET /orchestrator/backends and status. */
export async function detectBackends(ctx: Context): Promise<Detection[]> {
  return Promise.all(
    BACKEND_PRIORITY.map(async (name) => {
      const b = backendInstance(ctx, name)
      if (!b) return { name, registered: false }
      return { name, registered: true, probe: await b.probe().catch((e) => ({ available: false, detail: String(e) })) }
    }),
  )
}

/**
 * The backend deploys go to: the configured override (an unavailable override is an error,
 * never a fallback), else the first available in priority order. Throws 503 when none answers,
 * so a deploy against a dead engine writes nothing.
 */
export async function selectBackend(ctx: Context): Promise<Backend> {
  const cached = selected.get(ctx)
  if (cached) {
    const b = await cached.catch(() => undefined)
    if (b && (await b.probe()).available) return b
    selected.delete(ctx)
  }
  const attempt = (async () => {
    const want = ctx.config.preferredBackend
    const names = want === 'auto' ? BACKEND_PRIORITY : [want]
    const why: string[] = []
    for (const name of names) {
      const b = backendInstance(ctx, name)
      if (!b) {
        why.push(`${name}: no driver on the ${ctx.platform.name} runtime`)
        continue
      }
      const p = await b.probe()
      if (p.available) return b
      why.push(`${name}: ${p.detail}`)
    }
    if (want !== 'auto' && !ctx.platform.backendDrivers) {
      throw new OrchestratorError({ status: 501, code: 'backend-not-supported', title: 'Backend not supported here', detail: why.join('; ') })
    }
    if (want !== 'auto') {
      // A named backend never falls back to another one (reference: "Backend Priority System").
      throw new OrchestratorError({
        status: 503,
        code: 'backend-unavailable',
        title: `The ${want} backend is unavailable`,
        detail: `ORCHESTRATOR_PREFERRED_BACKEND=${want}, but ${why.join('; ')}. There is no fallback to another backend; nothing was changed.`,
        retryAfterSeconds: 5,
        extra: { backend: want },
      })
    }
    throw dependencyUnavailable('docker', `No container backend is available (${why.join('; ')}).`)
  })()
  selected.set(ctx, attempt)
  try {
    return await attempt
  } catch (e) {
    selected.delete(ctx)
    throw e
  }
}
