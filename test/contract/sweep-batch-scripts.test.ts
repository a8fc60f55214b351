import { afterEach, describe, expect, it } from 'vitest'
import type { Context } from '../../shared/context.ts'
import { checkDegradation } from '../../shared/health/degradation.ts'
import { sweepHeartbeats } from '../../shared/health/heartbeat-sweep.ts'
import { pendingRestarts, requestRestarts, restartHistory } from '../../shared/restarts/requests.ts'
import { applyGuarded, FencedOutError } from '../../shared/store/fenced.ts'
import { asHash } from '../../shared/store/ops.ts'
import { disposeContext, testContext } from '../support/context.ts'
import { beat, connected, outboxEvents } from '../support/scheduler.ts'

/**
 * The sweep and the degradation check write through batch scripts (stale-scan,
 * recovered-scan, record-transitions, instance-scan, record-restarts, guarded-apply). Each has
 * a JS twin for the memory store: the same scenario must give the same answers on both, and
 * on both a stale fence must write nothing.
 */
const contexts: Context[] = []
afterEach(async () => {
  await Promise.all(contexts.splice(0).map(disposeContext))
})

async function setup(driver: 'redis' | 'memory') {
  const clock = { t: Date.now() }
  const env = { ORCHESTRATOR_DEGRADATION_THRESHOLD: '5', ORCHESTRATOR_HEARTBEAT_TIMEOUT: '30', ...(driver === 'memory' ? { ORCHESTRATOR_STORE: 'memory' } : {}) }
  const ctx = await connected(testContext(env, { clock: { now: () => clock.t } }))
  contexts.push(ctx)
  return { ctx, clock }
}

const reader = (ctx: Context) => ({
  store: ctx.store,
  keys: ctx.keys,
  now: ctx.clock.now,
  heartbeatTimeoutSeconds: ctx.config.heartbeatTimeoutSeconds,
  retentionSeconds: ctx.config.scheduler.heartbeatRetentionSeconds,
})

async function scenario(driver: 'redis' | 'memory', batchSize?: number) {
  const { ctx, clock } = await setup(driver)
  const t0 = clock.t
  const { keys, store } = ctx
  for (let i = 0; i < 12; i++) await beat(ctx, i < 6 ? 'auth' : 'npc', `app-${i}`, { status: i % 4 === 0 ? 'degraded' : 'healthy' })
  // A short-form member (service only in the body) and a value that is not a heartbeat.
  await store.call(['SET', keys.heartbeatFromMember('solo'), JSON.stringify({ eventId: crypto.randomUUID(), timestamp: new Date(t0).toISOString(), serviceId: 'mesh', appId: 'solo', status: 'degraded' })])
  await store.call(['ZADD', keys.heartbeatIndex, t0, 'solo'])
  await store.call(['SET', keys.heartbeat('npc', 'broken'), '{"status":"healthy"'])
  await store.call(['ZADD', keys.heartbeatIndex, t0, 'npc:broken'])

  const first = await checkDegradation(ctx, { batchSize })
  // Two heartbeats expire; the clock moves past the timeout and the degradation threshold.
  await store.call(['DEL', keys.heartbeat('auth', 'app-1'), keys.heartbeat('npc', 'app-7')])
  clock.t = t0 + 6 * 60_000
  for (let i = 0; i < 12; i++) if (i !== 1 && i !== 7) await beat(ctx, i < 6 ? 'auth' : 'npc', `app-${i}`, { status: i % 4 === 0 ? 'degraded' : 'healthy' })
  const sweep = await Promise.all([sweepHeartbeats(reader(ctx)), sweepHeartbeats(reader(ctx))])
  const second = await checkDegradation(ctx, { batchSize })
  const third = await checkDegradation(ctx, { batchSize })
  // One instance comes back.
  await beat(ctx, 'auth', 'app-1')
  const recovery = await sweepHeartbeats(reader(ctx))

  const events = (await outboxEvents(ctx)).map((e) => `${e.type} ${String(e.data.instance ?? e.data.appName)}`).sort()
  const pending = (await pendingRestarts(ctx)).map((p) => `${p.appName} ${p.reason} ${p.priority}`).sort()
  const strip = ({ decisions: _d, ...rest }: Awaited<ReturnType<typeof checkDegradation>>) => rest
  return {
    first: strip(first),
    sweep: sweep.map((s) => s.lost),
    second: strip(second),
    third: strip(third),
    recovery: { recovered: recovery.recovered, stillLost: recovery.stillLost },
    events,
    pending,
    marks: Object.keys(asHash(await store.call(['HGETALL', keys.instanceDegradedSince]))).sort(),
    history: (await restartHistory(ctx, 'app-1')).length,
  }
}

describe('batch scripts: Redis and the memory twins agree', () => {
  it('sweep + degradation check give the same answers on both stores, in one page or in many (judged and raw pages)', async () => {
    const [redis, memory, redisPaged, memoryPaged] = await Promise.all([scenario('redis'), scenario('memory'), scenario('redis', 3), scenario('memory', 3)])
    expect(memory).toEqual(redis)
    expect(redisPaged).toEqual(redis)
    expect(memoryPaged).toEqual(redis)
    expect(redis.first).toMatchObject({ instances: 14, healthy: 9, degraded: 5, marked: 5, restartCandidates: 0 })
    expect(redis.sweep.sort()).toEqual([0, 2]) // two sweeps at once: each loss recorded once
    expect(redis.second).toMatchObject({ unavailable: 2, restartsAccepted: 7, restartsCoalesced: 0 })
    expect(redis.third).toMatchObject({ restartsAccepted: 0, restartsCoalesced: 7, marked: 0 })
    expect(redis.recovery).toEqual({ recovered: 1, stillLost: 1 })
    expect(redis.events.filter((e) => e.startsWith('instance.lost'))).toEqual(['instance.lost auth:app-1', 'instance.lost npc:app-7'])
    expect(redis.events.filter((e) => e.startsWith('restart.requested'))).toHaveLength(7)
    expect(redis.pending).toContain('app-1 auto:unavailable immediate')
    expect(redis.pending).toContain('solo auto:degraded graceful')
    expect(redis.history).toBe(1)
  })

  it.each(['redis', 'memory'] as const)('a stale fence writes nothing (%s)', async (driver) => {
    const { ctx } = await setup(driver)
    const fence = { key: ctx.keys.fence('test'), value: 3 }
    await ctx.store.call(['SET', fence.key, 4])
    const req = { appName: 'a', reason: 'auto:degraded', requestedBy: 't' }
    await expect(requestRestarts(ctx, [req, { ...req, appName: 'b' }], { fence })).rejects.toBeInstanceOf(FencedOutError)
    const many = Array.from({ length: 1200 }, (_, i) => ({ guards: [], then: [['SET', `${ctx.keys.prefix}x:${i}`, '1']] }))
    await expect(applyGuarded(ctx.store, many, fence)).rejects.toBeInstanceOf(FencedOutError)
    expect(await pendingRestarts(ctx)).toEqual([])
    expect(await outboxEvents(ctx)).toEqual([])
    expect(await ctx.store.call(['EXISTS', `${ctx.keys.prefix}x:0`])).toBe(0)
    // The current fence passes, every chunk applies.
    expect((await applyGuarded(ctx.store, many, { ...fence, value: 4 })).every((x) => x === 1)).toBe(true)
    expect(await ctx.store.call(['EXISTS', `${ctx.keys.prefix}x:1199`])).toBe(1)
  })
})
