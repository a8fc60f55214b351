import type { Context } from '../context.ts'
import { withTimeout } from '../timeout.ts'
import { errorMessage } from '../errors.ts'

export type ComponentStatus = 'healthy' | 'unhealthy' | 'not-configured' | 'embedded'
export type OverallStatus = 'healthy' | 'degraded' | 'unhealthy'

export interface ComponentHealth {
  name: 'redis' | 'rabbitmq' | 'dapr-placement'
  status: ComponentStatus
  message: string
  latencyMs: number | null
  /** Whether the orchestrator can work at all without it. */
  required: boolean
}

export interface InfrastructureHealth {
  status: OverallStatus
  checkedAt: string
  components: ComponentHealth[]
}

const CHECK_TIMEOUT_MS = 2000
const round = (ms: number) => Math.round(ms * 100) / 100

async function checkRedis(ctx: Context): Promise<ComponentHealth> {
  const base = { name: 'redis' as const, required: true }
  try {
    const latency = await withTimeout(ctx.store.ping(), CHECK_TIMEOUT_MS, 'Redis PING')
    if (ctx.store.driver === 'memory') {
      return { ...base, status: 'embedded', message: 'embedded memory store: state is not persisted (set ORCHESTRATOR_REDIS_CONNECTION to use Redis)', latencyMs: round(latency) }
    }
    return { ...base, status: 'healthy', message: `PING ok (${ctx.store.driver} driver)`, latencyMs: round(latency) }
  } catch (e) {
    return { ...base, status: 'unhealthy', message: errorMessage(e), latencyMs: null }
  }
}

async function checkRabbit(ctx: Context): Promise<ComponentHealth> {
  const base = { name: 'rabbitmq' as const, required: false }
  try {
    const r = await withTimeout(ctx.broker.check(), CHECK_TIMEOUT_MS, 'RabbitMQ')
    const status: ComponentStatus = r.ok ? (r.state === 'embedded' ? 'embedded' : 'healthy') : r.state === 'not-configured' ? 'not-configured' : 'unhealthy'
    return { ...base, status, message: r.message, latencyMs: r.latencyMs === undefined ? null : round(r.latencyMs) }
  } catch (e) {
    return { ...base, status: 'unhealthy', message: errorMessage(e), latencyMs: null }
  }
}

async function checkPlacement(ctx: Context): Promise<ComponentHealth> {
  const base = { name: 'dapr-placement' as const, required: false }
  const url = ctx.config.daprPlacementUrl
  if (!url) return { ...base, status: 'not-configured', message: 'ORCHESTRATOR_DAPR_PLACEMENT_URL is not set', latencyMs: null }
  const start = performance.now()
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) })
    await res.body?.cancel()
    const latencyMs = round(performance.now() - start)
    return res.ok
      ? { ...base, status: 'healthy', message: `HTTP ${res.status}`, latencyMs }
      : { ...base, status: 'unhealthy', message: `HTTP ${res.status} from ${url}`, latencyMs }
  } catch (e) {
    return { ...base, status: 'unhealthy', message: `${url}: ${errorMessage(e)}`, latencyMs: null }
  }
}

/** Checks run in parallel, each bounded, so the endpoint answers within ~2 s whatever is down. */
export async function checkInfrastructure(ctx: Context): Promise<InfrastructureHealth> {
  const components = await Promise.all([checkRedis(ctx), checkRabbit(ctx), checkPlacement(ctx)])
  const failing = components.filter((c) => c.status === 'unhealthy')
  const status: OverallStatus = failing.some((c) => c.required) ? 'unhealthy' : failing.length > 0 ? 'degraded' : 'healthy'
  return { status, checkedAt: new Date(ctx.clock.now()).toISOString(), components }
}
