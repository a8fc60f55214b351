import { afterEach, describe, expect, it } from 'vitest'
import type { Context } from '../../shared/context.ts'
import { sweepHeartbeats, type SweepReader } from '../../shared/health/heartbeat-sweep.ts'
import { readServicesHealth } from '../../shared/health/service-health.ts'
import { FencedOutError } from '../../shared/store/fenced.ts'
import { disposeContext, testContext } from '../support/context.ts'
import { beat, connected, heartbeat, outboxEvents } from '../support/scheduler.ts'
import { waitFor } from '../support/services.ts'

const contexts: Context[] = []
afterEach(async () => {
  await Promise.all(contexts.splice(0).map(disposeContext))
})

async function setup(env: Record<string, string> = {}) {
  const ctx = await connected(testContext({ ORCHESTRATOR_HEARTBEAT_TIMEOUT: '1', ...env }))
  contexts.push(ctx)
  const reader: SweepReader = {
    store: ctx.store,
    keys: ctx.keys,
    now: ctx.clock.now,
    heartbeatTimeoutSeconds: ctx.config.heartbeatTimeoutSeconds,
    retentionSeconds: ctx.config.scheduler.heartbeatRetentionSeconds,
  }
  return { ctx, reader }
}

const gone = (ctx: Context, serviceId: string, appId: string) => async () => (await ctx.store.call(['EXISTS', ctx.keys.heartbeat(serviceId, appId)])) === 0
const types = async (ctx: Context) => (await outboxEvents(ctx)).map((e) => `${e.type} ${String(e.data.instance)}`)

describe('heartbeat sweep (real Redis)', () => {
  it('marks an instance lost once its key expires and emits exactly one event per transition', async () => {
    const { ctx, reader } = await setup()
    await beat(ctx, 'auth', 'bannou-1', { ttlSeconds: 1 })
    await beat(ctx, 'auth', 'bannou-2', { ttlSeconds: 600 })
    expect((await sweepHeartbeats(reader)).lost).toBe(0)
    expect(await waitFor(gone(ctx, 'auth', 'bannou-1'), 5000, 100)).toBe(true)

    // Two sweeps at once (two schedulers, or a stale one), then more ticks: still one event.
    const [a, b] = await Promise.all([sweepHeartbeats(reader), sweepHeartbeats(reader)])
    expect(a.lost + b.lost).toBe(1)
    expect((await sweepHeartbeats(reader)).lost).toBe(0)
    expect(await types(ctx)).toEqual(['instance.lost auth:bannou-1'])
    expect(await ctx.store.call(['ZSCORE', ctx.keys.instancesLost, 'auth:bannou-1'])).not.toBeNull()

    const report = await readServicesHealth({ store: ctx.store, keys: ctx.keys, now: ctx.clock.now }, 'auth')
    expect(report.services[0]!.instances.find((i) => i.appId === 'bannou-1')!.status).toBe('unavailable')

    // It comes back: one recovered event, however many sweeps.
    await beat(ctx, 'auth', 'bannou-1', { ttlSeconds: 600 })
    const [c, d] = await Promise.all([sweepHeartbeats(reader), sweepHeartbeats(reader)])
    expect(c.recovered + d.recovered).toBe(1)
    expect((await sweepHeartbeats(reader)).recovered).toBe(0)
    const events = await outboxEvents(ctx)
    expect(events.map((e) => e.type)).toEqual(['instance.lost', 'instance.recovered'])
    expect(events[1]!.data).toMatchObject({ serviceId: 'auth', appId: 'bannou-1' })
    expect(await ctx.store.call(['ZCARD', ctx.keys.instancesLost])).toBe(0)
  })

  it('refreshes a stale index score when the key was rewritten by a client that does not index', async () => {
    const { ctx, reader } = await setup()
    await beat(ctx, 'auth', 'plain', { ttlSeconds: 1 })
    expect(await waitFor(gone(ctx, 'auth', 'plain'), 5000, 100)).toBe(true)
    // A plain SET, as existing Bannou services write it: the index still has the old score.
    await ctx.store.call(['SET', ctx.keys.heartbeat('auth', 'plain'), JSON.stringify(heartbeat('auth', 'plain')), 'EX', 600])
    const r = await sweepHeartbeats(reader)
    expect(r).toMatchObject({ lost: 0, refreshed: 1 })
    expect(await outboxEvents(ctx)).toEqual([])
  })

  it('prunes instances lost longer than the retention from every index', async () => {
    const { ctx, reader } = await setup({ ORCHESTRATOR_HEARTBEAT_RETENTION: '1' })
    await beat(ctx, 'auth', 'old', { ttlSeconds: 1 })
    expect(await waitFor(gone(ctx, 'auth', 'old'), 5000, 100)).toBe(true)
    expect((await sweepHeartbeats(reader)).lost).toBe(1)
    expect(await waitFor(async () => (await sweepHeartbeats(reader)).pruned === 1, 5000, 200)).toBe(true)
    const [global, service, lost] = await ctx.store.pipeline([
      ['ZSCORE', ctx.keys.heartbeatIndex, 'auth:old'],
      ['ZSCORE', ctx.keys.serviceHeartbeatIndex('auth'), 'auth:old'],
      ['ZSCORE', ctx.keys.instancesLost, 'auth:old'],
    ])
    expect([global, service, lost]).toEqual([null, null, null])
    expect((await outboxEvents(ctx)).map((e) => e.type)).toEqual(['instance.lost'])
  })

  it('refuses the writes of a sweep whose fencing number is stale', async () => {
    const { ctx, reader } = await setup()
    await beat(ctx, 'auth', 'x', { ttlSeconds: 1 })
    expect(await waitFor(gone(ctx, 'auth', 'x'), 5000, 100)).toBe(true)
    const key = ctx.keys.fence('scheduler:heartbeat-sweep')
    await ctx.store.call(['SET', key, 7])
    await expect(sweepHeartbeats(reader, { fence: { key, value: 6 } })).rejects.toBeInstanceOf(FencedOutError)
    expect(await outboxEvents(ctx)).toEqual([])
    expect((await sweepHeartbeats(reader, { fence: { key, value: 7 } })).lost).toBe(1)
  })
})
