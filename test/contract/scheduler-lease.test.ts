import { spawn, type ChildProcess } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { createScheduler, type Scheduler } from '../../scheduler/runner.ts'
import type { Task } from '../../scheduler/task.ts'
import type { Context } from '../../shared/context.ts'
import { createLease, readLeases } from '../../shared/lease.ts'
import { FencedOutError, fencedWrite } from '../../shared/store/fenced.ts'
import { disposeContext, REDIS, testContext } from '../support/context.ts'
import { connected } from '../support/scheduler.ts'
import { waitFor } from '../support/services.ts'

const contexts: Context[] = []
const schedulers: Scheduler[] = []
const children: ChildProcess[] = []
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await Promise.all(schedulers.splice(0).map((s) => s.stop()))
  await Promise.all(contexts.splice(0).map(disposeContext))
})

async function setup(env: Record<string, string> = {}) {
  const ctx = await connected(testContext(env))
  contexts.push(ctx)
  return ctx
}

const leaderOf = async (ctx: Context, task: string) => (await readLeases(ctx, [`scheduler:${task}`]))[0]!

describe('singleton lease', () => {
  it('gives the lease to one holder, draws a higher fence per acquisition, and refuses a stale leader’s write', async () => {
    const ctx = await setup()
    const lost: string[] = []
    const a = createLease(ctx, 'demo', { ttlMs: 5000, holder: 'a', onLost: (r) => lost.push(r) })
    const b = createLease(ctx, 'demo', { ttlMs: 5000, holder: 'b' })
    const fenceA = await a.tryAcquire()
    expect(fenceA).toBe(1)
    expect(await b.tryAcquire()).toBeNull()
    expect((await readLeases(ctx, ['demo']))[0]).toMatchObject({ holder: 'a', fence: 1 })

    // a stalls (GC pause, partition) long enough for its key to expire; b takes over.
    await ctx.store.call(['DEL', ctx.keys.lease('demo')])
    const fenceB = await b.tryAcquire()
    expect(fenceB).toBe(2)

    const key = ctx.keys.fence('demo')
    const target = `${ctx.keys.prefix}demo-state`
    await fencedWrite(ctx.store, { key, value: fenceB! }, [['SET', target, 'from-b']])
    await expect(fencedWrite(ctx.store, { key, value: fenceA! }, [['SET', target, 'from-a']])).rejects.toBeInstanceOf(FencedOutError)
    expect(await ctx.store.call(['GET', target])).toBe('from-b')

    // a's next renewal (TTL/3) notices and gives up; releasing b frees the key; a's release cannot delete b's.
    expect(await waitFor(async () => lost.length === 1, 5000, 50)).toBe(true)
    await a.release()
    expect((await readLeases(ctx, ['demo']))[0]!.holder).toBe('b')
    await b.release()
    expect((await readLeases(ctx, ['demo']))[0]!.holder).toBeNull()
  })

  it('two schedulers in parallel: each task runs once per interval, never concurrently', async () => {
    const ctx = await setup()
    const starts: { at: number; fence: number }[] = []
    let inflight = 0
    let maxInflight = 0
    const task: Task = {
      name: 'count',
      description: 'counts its runs',
      everySeconds: () => 1,
      run: async (c) => {
        starts.push({ at: Date.now(), fence: c.fence })
        maxInflight = Math.max(maxInflight, ++inflight)
        await new Promise((r) => setTimeout(r, 100))
        inflight--
        return {}
      },
    }
    const opts = { tasks: [task], leaseTtlMs: 5000, leaseRetryMs: 100 }
    const s1 = createScheduler(ctx, { ...opts, holder: 's1' })
    const s2 = createScheduler(ctx, { ...opts, holder: 's2' })
    schedulers.push(s1, s2)
    const t0 = Date.now()
    s1.start()
    s2.start()
    expect(await waitFor(async () => starts.length >= 4, 10_000, 50)).toBe(true)
    await Promise.all([s1.stop(), s2.stop()])
    const elapsed = Date.now() - t0

    expect(maxInflight).toBe(1)
    expect(new Set(starts.map((s) => s.fence)).size).toBe(1)
    expect(starts.length).toBeLessThanOrEqual(Math.floor(elapsed / 1000) + 1)
    for (let i = 1; i < starts.length; i++) expect(starts[i]!.at - starts[i - 1]!.at).toBeGreaterThanOrEqual(1000 - 60)
    // stop() released the lease.
    expect((await leaderOf(ctx, 'count')).holder).toBeNull()
  })
})

describe('standalone scheduler process (deploy/scheduler.ts)', () => {
  const TTL = 3000
  const RETRY = 500

  function spawnScheduler(ctx: Context) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'deploy/scheduler.ts'], {
      env: {
        ...process.env,
        ORCHESTRATOR_REDIS_CONNECTION: REDIS,
        ORCHESTRATOR_KEY_PREFIX: ctx.keys.prefix,
        ORCHESTRATOR_SCHEDULER_LEASE_TTL_MS: String(TTL),
        ORCHESTRATOR_SCHEDULER_LEASE_RETRY_MS: String(RETRY),
        ORCHESTRATOR_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += String(d)))
    children.push(child)
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
    return { child, exited, stderr: () => stderr }
  }

  it('a follower takes over within TTL + retry after the leader is killed with SIGKILL', async () => {
    const ctx = await setup({ ORCHESTRATOR_SCHEDULER_LEASE_TTL_MS: String(TTL), ORCHESTRATOR_SCHEDULER_LEASE_RETRY_MS: String(RETRY) })
    const leader = spawnScheduler(ctx)
    const holdsAll = async () => (await readLeases(ctx, ['scheduler:heartbeat-sweep', 'scheduler:degradation-check'])).every((l) => l.holder?.endsWith(`:${leader.child.pid}`))
    expect(await waitFor(holdsAll, 20_000, 100), leader.stderr()).toBe(true)

    const follower = createScheduler(ctx, { holder: 'follower' })
    schedulers.push(follower)
    follower.start()
    const killedAt = Date.now()
    leader.child.kill('SIGKILL')
    expect((await leader.exited).signal).toBe('SIGKILL')
    expect(await waitFor(async () => (await leaderOf(ctx, 'heartbeat-sweep')).holder === 'follower', TTL + RETRY + 5000, 50)).toBe(true)
    const takeoverMs = Date.now() - killedAt
    expect(takeoverMs).toBeLessThanOrEqual(TTL + RETRY + 500)
    const after = await leaderOf(ctx, 'heartbeat-sweep')
    expect(after.fence).toBeGreaterThanOrEqual(2)
  })

  it('SIGTERM stops the ticks and releases the lease', async () => {
    const ctx = await setup()
    const proc = spawnScheduler(ctx)
    expect(await waitFor(async () => (await leaderOf(ctx, 'heartbeat-sweep')).holder !== null, 20_000, 100), proc.stderr()).toBe(true)
    proc.child.kill('SIGTERM')
    expect(await proc.exited).toEqual({ code: 0, signal: null })
    const leases = await readLeases(ctx, ['scheduler:heartbeat-index', 'scheduler:heartbeat-sweep', 'scheduler:degradation-check', 'scheduler:secret-sync'])
    expect(leases.map((l) => l.holder)).toEqual([null, null, null, null])
  })
})
