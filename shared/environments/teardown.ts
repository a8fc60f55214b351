import { selectBackend } from '../backends/registry.ts'
import type { Context } from '../context.ts'
import { conflict } from '../errors.ts'
import { emit } from '../events/outbox.ts'
import { stamp, type LifecycleEvent, type OutboundEvent } from '../events/schemas.ts'
import { serviceMapping } from './service-mapping.ts'
import { mappingEvents } from './events.ts'
import { acquireLease, readEnvironment, releaseLease } from './records.ts'

export interface TeardownResult {
  environment: string
  removed: string[]
  unregistered: string[]
  removeVolumes: boolean
}

/**
 * Stops every labelled unit of an environment (sidecars, apps, then infrastructure; each
 * with the grace period), removes them, and unregisters its services in the same MULTI as
 * the state change. Holds the environment lease, so it never races a deploy.
 */
export async function teardownEnvironment(ctx: Context, env: string, opts: { removeVolumes: boolean; graceSeconds?: number }): Promise<TeardownResult> {
  const backend = await selectBackend(ctx)
  const token = `teardown-${crypto.randomUUID()}`
  const lease = await acquireLease(ctx, env, token)
  if (!lease.ok) throw conflict(`Deployment ${lease.holder ?? '(unknown)'} is running in environment "${env}"; tear down after it finishes.`, { runningDeployment: lease.holder })
  try {
    const state = await readEnvironment(ctx, env)
    const removed = await backend.remove(env, { graceSeconds: opts.graceSeconds ?? ctx.config.deploy.stopGraceSeconds, removeVolumes: opts.removeVolumes })
    const mappings = mappingEvents(state.current ? serviceMapping(state.current.preset) : {}, {})
    const lifecycle: OutboundEvent = {
      kind: 'lifecycle',
      event: stamp({ type: 'topology.changed' as const, source: 'orchestrator' as const, environment: env, data: { action: 'teardown', removed, revision: state.current?.number ?? null } }) as LifecycleEvent,
    }
    await emit(ctx, [...mappings, lifecycle], [['HDEL', ctx.keys.deployment(env), 'current', 'inProgress']])
    return {
      environment: env,
      removed,
      unregistered: mappings.map((m) => (m.kind === 'service-mapping' ? m.event.serviceName : '')).filter(Boolean),
      removeVolumes: opts.removeVolumes,
    }
  } finally {
    await releaseLease(ctx, env, token).catch(() => undefined)
  }
}
