import type { Context } from '../context.ts'
import { ROUTING_TTL_SECONDS } from '../events/outbox.ts'
import { applyGuarded } from '../store/fenced.ts'
import type { GuardedChange } from '../store/scripts.ts'
import { serviceMapping } from './service-mapping.ts'
import { listEnvironments, readEnvironment } from './records.ts'

export interface RoutingRefresh {
  environments: number
  services: number
  /** Environments left alone this round: a deploy is under way, or nothing is deployed. */
  skipped: string[]
  /** Changed between read and write (a deploy or teardown won): the next round looks again. */
  raced: string[]
}

/**
 * Keeps `service:routing:{serviceName}` alive while its mapping is current. The keys carry
 * the reference's 5-minute TTL, so readers fall back to the default app once no orchestrator
 * runs; while one does, each environment's current revision renews its services' keys and
 * re-creates any that expired (SET NX: a value a mapping event wrote is never replaced here).
 * Each environment's write is guarded by its state as read (revision committed, no deploy in
 * progress, same deploy counter), so a teardown or a newer deploy in between wins.
 */
export async function refreshRouting(ctx: Context, ttlSeconds = ROUTING_TTL_SECONDS): Promise<RoutingRefresh> {
  const out: RoutingRefresh = { environments: 0, services: 0, skipped: [], raced: [] }
  for (const env of await listEnvironments(ctx)) {
    const state = await readEnvironment(ctx, env)
    if (!state.current || state.inProgress) {
      out.skipped.push(env)
      continue
    }
    const key = ctx.keys.deployment(env)
    const mapping = Object.entries(serviceMapping(state.current.preset))
    const change: GuardedChange = {
      guards: [
        { cmd: ['HEXISTS', key, 'current'], expected: 1 },
        { cmd: ['HEXISTS', key, 'inProgress'], expected: 0 },
        { cmd: ['HINCRBY', key, 'counter', '0'], expected: state.counter },
      ],
      then: mapping.flatMap(([serviceName, appId]) => {
        const routing = ctx.keys.routing(serviceName)
        const value = JSON.stringify({ serviceName, appId, environment: env, revision: state.current!.number, timestamp: state.current!.deployedAt })
        return [
          ['SET', routing, value, 'EX', String(ttlSeconds), 'NX'],
          ['EXPIRE', routing, String(ttlSeconds)],
        ]
      }),
    }
    const [applied] = await applyGuarded(ctx.store, [change])
    if (applied !== 1) {
      out.raced.push(env)
      continue
    }
    out.environments++
    out.services += mapping.length
  }
  return out
}
