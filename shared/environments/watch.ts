import { selectBackend } from '../backends/registry.ts'
import type { Context } from '../context.ts'
import { recoverInterrupted } from './rollback.ts'
import { acquireLease, listEnvironments, readEnvironment, releaseLease } from './records.ts'

export interface WatchOutcome {
  environment: string
  recovered?: string
  infrastructureDown?: string[]
  restarted?: string[]
}

/**
 * What replaces restart policies between deploys: while an environment's infrastructure is
 * down nothing is restarted (a sidecar would exit again at once); when it returns, only the
 * apps and sidecars that actually exited are started again, once, apps before sidecars.
 * Also finishes a deploy interrupted by an orchestrator crash (rolls it back).
 */
export async function watchEnvironment(ctx: Context, env: string): Promise<WatchOutcome> {
  const out: WatchOutcome = { environment: env }
  const recovered = await recoverInterrupted(ctx, env)
  if (recovered) out.recovered = recovered
  const state = await readEnvironment(ctx, env)
  const check = ctx.platform.checkInfrastructure
  if (!state.current || !check) return out
  const targets = state.current.desired.infrastructure
  const results = await Promise.all(targets.map(async (t) => ({ t, ...(await check(t.kind, t.address, 1500)) })))
  const down = results.filter((r) => !r.ok).map((r) => `${r.t.kind} at ${r.t.address}: ${r.detail}`)
  const key = ctx.keys.deployment(env)
  if (down.length) {
    out.infrastructureDown = down
    await ctx.store.call(['HSET', key, 'infrastructureDown', JSON.stringify({ since: new Date().toISOString(), down })])
    return out
  }
  const wasDown = await ctx.store.call(['HGET', key, 'infrastructureDown'])
  if (wasDown === null) return out
  const token = `watch-${crypto.randomUUID()}`
  const lease = await acquireLease(ctx, env, token)
  if (!lease.ok) return out // a deploy is running; it reconciles everything itself
  try {
    const backend = await selectBackend(ctx)
    const units = await backend.status(env)
    const exited = (role: string) => units.filter((u) => u.role === role && (u.state === 'exited' || u.state === 'created' || u.state === 'dead')).map((u) => u.name)
    const restarted: string[] = []
    for (const role of ['app', 'sidecar']) {
      const names = exited(role)
      if (names.length) restarted.push(...(await backend.restart(names, 'start')).restarted)
    }
    out.restarted = restarted
    await ctx.store.call(['HDEL', key, 'infrastructureDown'])
    if (restarted.length) ctx.log.info('infrastructure is back; started exited units once, in order', { environment: env, restarted })
    return out
  } finally {
    await releaseLease(ctx, env, token).catch(() => undefined)
  }
}

export async function watchEnvironments(ctx: Context): Promise<WatchOutcome[]> {
  if (!ctx.platform.backendDrivers) return []
  return Promise.all((await listEnvironments(ctx)).map((env) => watchEnvironment(ctx, env)))
}
