import { afterEach, describe, expect, it } from 'vitest'
import shouldRestart from '../../functions/should-restart.ts'
import type { Context } from '../../shared/context.ts'
import { checkDegradation } from '../../shared/health/degradation.ts'
import { pendingRestarts, requestRestart, restartHistory } from '../../shared/restarts/requests.ts'
import { asHash } from '../../shared/store/ops.ts'
import { disposeContext, testContext } from '../support/context.ts'
import { beat, connected, outboxEvents } from '../support/scheduler.ts'

const contexts: Context[] = []
afterEach(async () => {
  await Promise.all(contexts.splice(0).map(disposeContext))
})

/** A context on a clock the test moves, so "degraded for 6 minutes" takes no time. */
async function setup(env: Record<string, string> = {}) {
  const clock = { t: Date.now(), now: () => clock.t }
  const ctx = await connected(testContext({ ORCHESTRATOR_DEGRADATION_THRESHOLD: '5', ...env }, { clock: { now: () => clock.t } }))
  contexts.push(ctx)
  return { ctx, clock }
}

const restartEvents = async (ctx: Context) => (await outboxEvents(ctx)).filter((e) => e.type === 'restart.requested')

describe('degradation check (real Redis)', () => {
  it('requests exactly one restart once degraded beyond the threshold; repeated ticks do not duplicate', async () => {
    const { ctx, clock } = await setup()
    const t0 = clock.t
    await beat(ctx, 'auth', 'bannou-auth', { status: 'degraded' })
    await beat(ctx, 'auth', 'bannou-auth-2')

    const first = await checkDegradation(ctx)
    expect(first).toMatchObject({ instances: 2, degraded: 1, healthy: 1, marked: 1, restartCandidates: 0 })
    expect(await ctx.store.call(['HGET', ctx.keys.instanceDegradedSince, 'auth:bannou-auth'])).toBe(String(t0))
    // The per-service mark should-restart reads agrees with the instance mark.
    expect(await ctx.store.call(['HGET', ctx.keys.degradedSince, 'auth'])).toBe(String(t0))

    clock.t = t0 + 6 * 60_000
    await beat(ctx, 'auth', 'bannou-auth', { status: 'degraded' })
    const over = await checkDegradation(ctx)
    expect(over).toMatchObject({ restartCandidates: 1, restartsAccepted: 1, restartsCoalesced: 0 })
    expect(over.decisions[0]).toMatchObject({ appName: 'bannou-auth', reason: 'auto:degraded', decision: 'accepted' })

    // More ticks, two of them concurrent (two schedulers): nothing new.
    const again = await Promise.all([checkDegradation(ctx), checkDegradation(ctx), checkDegradation(ctx)])
    expect(again.map((r) => r.restartsAccepted)).toEqual([0, 0, 0])
    expect(again.map((r) => r.restartsCoalesced)).toEqual([1, 1, 1])

    const pending = await pendingRestarts(ctx)
    expect(pending).toHaveLength(1)
    expect(pending[0]).toMatchObject({ appName: 'bannou-auth', serviceName: 'auth', reason: 'auto:degraded', status: 'pending', executor: null, requestedBy: 'scheduler:degradation-check' })
    expect(await restartHistory(ctx, 'bannou-auth')).toHaveLength(1)
    expect(await restartEvents(ctx)).toHaveLength(1)

    const rec = await shouldRestart.handler({ serviceName: 'auth' }, ctx, { requestId: 't' })
    expect(rec).toMatchObject({ shouldRestart: true, currentStatus: 'degraded', degradedDurationSeconds: 360 })
  })

  it('requests an immediate restart of an app whose heartbeat expired (auto:unavailable)', async () => {
    const { ctx } = await setup()
    await beat(ctx, 'npc', 'npc-omega')
    await ctx.store.call(['DEL', ctx.keys.heartbeat('npc', 'npc-omega')])
    const r = await checkDegradation(ctx)
    expect(r).toMatchObject({ unavailable: 1, restartsAccepted: 1 })
    expect((await pendingRestarts(ctx))[0]).toMatchObject({ appName: 'npc-omega', reason: 'auto:unavailable', priority: 'immediate' })
  })

  it('clears the marks when the instance is healthy again', async () => {
    const { ctx, clock } = await setup()
    await beat(ctx, 'auth', 'a', { status: 'degraded' })
    await checkDegradation(ctx)
    clock.t += 1000
    await beat(ctx, 'auth', 'a')
    expect(await checkDegradation(ctx)).toMatchObject({ cleared: 1, healthy: 1 })
    expect(asHash(await ctx.store.call(['HGETALL', ctx.keys.instanceDegradedSince]))).toEqual({})
    expect(await ctx.store.call(['HGET', ctx.keys.degradedSince, 'auth'])).toBeNull()
  })

  it('coalesces requests for the same app from any source within the window', async () => {
    const { ctx } = await setup({ ORCHESTRATOR_RESTART_COALESCE_WINDOW: '60' })
    const a = await requestRestart(ctx, { appName: 'bannou', reason: 'configuration_change', requestedBy: 'plugin:auth' })
    const b = await requestRestart(ctx, { appName: 'bannou', reason: 'auto:degraded', requestedBy: 'scheduler' })
    expect(a.decision).toBe('accepted')
    expect(b).toMatchObject({ decision: 'coalesced', requestId: a.requestId, into: 'pending' })
    // The executor (restart issue) takes the pending request; within the window the next one still coalesces.
    await ctx.store.call(['HDEL', ctx.keys.restartsPending, 'bannou'])
    expect(await requestRestart(ctx, { appName: 'bannou', reason: 'again', requestedBy: 'x' })).toMatchObject({ decision: 'coalesced', requestId: a.requestId, into: 'window' })
    await ctx.store.call(['DEL', ctx.keys.restartWindow('bannou')])
    expect((await requestRestart(ctx, { appName: 'bannou', reason: 'later', requestedBy: 'x' })).decision).toBe('accepted')
    expect((await restartHistory(ctx, 'bannou')).map((r) => r.reason)).toEqual(['later', 'configuration_change'])
  })
})
