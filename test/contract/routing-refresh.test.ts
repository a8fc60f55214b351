import { afterEach, describe, expect, it } from 'vitest'
import { runTasksOnce } from '../../deploy/scheduler-function.ts'
import type { Context } from '../../shared/context.ts'
import { commitRevisionCommands, type Revision } from '../../shared/environments/records.ts'
import { refreshRouting } from '../../shared/environments/routing.ts'
import type { Store } from '../../shared/store/types.ts'
import { disposeContext, testContext } from '../support/context.ts'
import { connected } from '../support/scheduler.ts'

/**
 * The routing cache outlives a mapping event's 5-minute TTL only while its revision is
 * current: renewed (never overwritten), re-created once expired, and left to expire after a
 * teardown or when a newer deploy got in between the read and the write. Redis and the
 * memory store must agree.
 */
const contexts: Context[] = []
afterEach(async () => {
  await Promise.all(contexts.splice(0).map(disposeContext))
})

const revision = (environment: string, number: number, nodes: { name: string; services: string[]; daprAppId: string }[]) =>
  ({ number, environment, preset: { name: 'p', description: '', source: 'user', file: '-', nodes, infrastructure: {} }, deployedAt: '2026-12-04T00:00:00.000Z' }) as unknown as Revision

async function deployed(ctx: Context, env: string, rev: Revision) {
  await ctx.store.transaction([
    ...commitRevisionCommands(ctx, rev),
    ['HSET', ctx.keys.deployment(env), 'counter', rev.number],
    ['SADD', ctx.keys.environments, env],
  ])
}

describe.each(['redis', 'memory'] as const)('routing refresh (%s)', (driver) => {
  const setup = async () => {
    const ctx = await connected(testContext(driver === 'memory' ? { ORCHESTRATOR_STORE: 'memory' } : {}))
    contexts.push(ctx)
    return ctx
  }
  const ttl = (ctx: Context, service: string) => ctx.store.call(['TTL', ctx.keys.routing(service)])
  const value = async (ctx: Context, service: string) => JSON.parse(String(await ctx.store.call(['GET', ctx.keys.routing(service)]))) as Record<string, unknown>

  it('renews live keys without replacing them and re-creates expired ones; a teardown lets them go', async () => {
    const ctx = await setup()
    await deployed(ctx, 'prod', revision('prod', 3, [{ name: 'main', services: ['auth', 'accounts'], daprAppId: 'bannou-main' }]))
    // auth's key was written by its mapping event and is about to expire; accounts' key is gone.
    await ctx.store.call(['SET', ctx.keys.routing('auth'), JSON.stringify({ serviceName: 'auth', appId: 'bannou-main', eventId: 'e-1' }), 'EX', 5])

    expect(await refreshRouting(ctx)).toEqual({ environments: 1, services: 2, skipped: [], raced: [] })
    expect(await ttl(ctx, 'auth')).toBeGreaterThan(290)
    expect(await value(ctx, 'auth')).toMatchObject({ eventId: 'e-1' })
    expect(await value(ctx, 'accounts')).toMatchObject({ serviceName: 'accounts', appId: 'bannou-main', environment: 'prod', revision: 3 })
    expect(await ttl(ctx, 'accounts')).toBeGreaterThan(290)

    // Teardown: current revision gone, keys deleted by its unregister events; nothing comes back.
    await ctx.store.call(['HDEL', ctx.keys.deployment('prod'), 'current'])
    await ctx.store.call(['DEL', ctx.keys.routing('auth'), ctx.keys.routing('accounts')])
    expect(await refreshRouting(ctx)).toEqual({ environments: 0, services: 0, skipped: ['prod'], raced: [] })
    expect(await ctx.store.call(['EXISTS', ctx.keys.routing('auth')])).toBe(0)
  })

  it('leaves an environment alone while a deploy runs, and loses to one that starts between read and write', async () => {
    const ctx = await setup()
    await deployed(ctx, 'stage', revision('stage', 1, [{ name: 'a', services: ['npc'], daprAppId: 'app-a' }]))
    await ctx.store.call(['HSET', ctx.keys.deployment('stage'), 'inProgress', '{"deploymentId":"d"}'])
    expect((await refreshRouting(ctx)).skipped).toEqual(['stage'])
    await ctx.store.call(['HDEL', ctx.keys.deployment('stage'), 'inProgress'])

    // A deploy claims a new revision number just before the refresh writes.
    const inner = ctx.store
    const racing: Store = {
      ...inner,
      runScript: async (script, keys, args) => {
        await inner.call(['HINCRBY', ctx.keys.deployment('stage'), 'counter', 1])
        return inner.runScript(script, keys, args)
      },
    }
    const raced = await refreshRouting(Object.create(ctx, { store: { value: racing } }) as Context)
    expect(raced).toEqual({ environments: 0, services: 0, skipped: [], raced: ['stage'] })
    expect(await ctx.store.call(['EXISTS', ctx.keys.routing('npc')])).toBe(0)
  })

  it('runs as the routing-refresh scheduled task', async () => {
    const ctx = await setup()
    await deployed(ctx, 'dev', revision('dev', 2, [{ name: 'b', services: ['mesh'], daprAppId: 'app-b' }]))
    const [report] = await runTasksOnce(ctx, ['routing-refresh'])
    expect(report).toMatchObject({ task: 'routing-refresh', ran: true, ok: true, outcome: { environments: 1, services: 1 } })
    expect(await value(ctx, 'mesh')).toMatchObject({ appId: 'app-b', revision: 2 })
  })
})
