import { tasks } from '../../scheduler/tasks.ts'
import { createServer, type AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startNodeServer, type RunningServer } from '../../deploy/serve-node.ts'
import { functions } from '../../functions/index.ts'
import type { Context } from '../../shared/context.ts'
import { buildApp } from '../../shared/http/app.ts'
import { createLease } from '../../shared/lease.ts'
import { disposeContext, REDIS, testContext, uniquePrefix } from '../support/context.ts'
import { connected } from '../support/scheduler.ts'
import { waitFor } from '../support/services.ts'

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo
      srv.close(() => resolve(port))
    })
  })

const contexts: Context[] = []
const servers: RunningServer[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    const prefix = s.ctx.keys.prefix
    await s.close()
    const cleanup = testContext({ ORCHESTRATOR_KEY_PREFIX: prefix })
    await connected(cleanup)
    await disposeContext(cleanup)
  }
  await Promise.all(contexts.splice(0).map(disposeContext))
})

async function setup() {
  const ctx = await connected(testContext())
  contexts.push(ctx)
  const app = buildApp(functions, ctx)
  const post = (body: unknown) => app.request('/orchestrator/scheduler/run', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
  return { ctx, app, post }
}

interface RunBody {
  ran: { task: string; ran: boolean; skipped?: string; leader?: string | null; ok?: boolean; outcome?: Record<string, unknown>; durationMs?: number; fence?: number }[]
}

describe('scheduler triggers over HTTP', () => {
  it('POST /orchestrator/scheduler/run runs due tasks, then reports them not due; a named task runs at once', async () => {
    const { post } = await setup()
    const first = (await (await post({})).json()) as RunBody
    expect(first.ran.map((r) => r.task)).toEqual(tasks.map((t) => t.name))
    expect(first.ran.map((r) => r.task)).toEqual(expect.arrayContaining(['heartbeat-index', 'heartbeat-sweep', 'degradation-check', 'secret-sync']))
    expect(first.ran.every((r) => r.ran && r.ok && typeof r.durationMs === 'number' && r.fence === 1)).toBe(true)
    expect(first.ran.find((r) => r.task === 'degradation-check')!.outcome).toMatchObject({ instances: 0, restartCandidates: 0 })

    const second = (await (await post({})).json()) as RunBody
    expect(second.ran.map((r) => r.skipped)).toEqual(tasks.map(() => 'not-due'))

    const named = (await (await post({ task: 'secret-sync' })).json()) as RunBody
    expect(named.ran).toHaveLength(1)
    expect(named.ran[0]).toMatchObject({ task: 'secret-sync', ran: true, ok: true, outcome: { placeholder: true }, fence: 2 })
  })

  it('skips a task whose lease another process holds and names the leader', async () => {
    const { ctx, post } = await setup()
    const other = createLease(ctx, 'scheduler:secret-sync', { ttlMs: 10_000, holder: 'other-host:42' })
    await other.tryAcquire()
    const body = (await (await post({ task: 'secret-sync' })).json()) as RunBody
    expect(body.ran[0]).toMatchObject({ task: 'secret-sync', ran: false, skipped: 'leader-elsewhere', leader: 'other-host:42' })
    await other.release()
  })

  it('rejects an unknown task with problem+json naming the field', async () => {
    const { post } = await setup()
    const res = await post({ task: 'nope' })
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toContain('application/problem+json')
    const problem = (await res.json()) as { errors: { field: string; message: string }[] }
    expect(problem.errors[0]!.field).toBe('task')
    expect(problem.errors[0]!.message).toContain('heartbeat-sweep')
  })

  it('GET /orchestrator/scheduler lists last run, duration, outcome, next run, leader and fence', async () => {
    const { app, post } = await setup()
    await post({ task: 'heartbeat-sweep' })
    const res = await app.request('/orchestrator/scheduler')
    expect(res.status).toBe(200)
    const body = (await res.json()) as { tasks: { name: string; lastRun: Record<string, unknown> | null; nextRunAt: string; leader: unknown; fence: number; everySeconds: number }[] }
    const sweep = body.tasks.find((t) => t.name === 'heartbeat-sweep')!
    expect(sweep.lastRun).toMatchObject({ ok: true, trigger: 'http', fence: 1, error: null })
    expect(sweep.lastRun!.outcome).toMatchObject({ lost: 0 })
    expect(typeof sweep.lastRun!.durationMs).toBe('number')
    expect(Date.parse(sweep.nextRunAt) - Date.parse(String(sweep.lastRun!.startedAt))).toBe(sweep.everySeconds * 1000)
    // A one-off trigger gives the lease back.
    expect(sweep.leader).toBeNull()
    expect(sweep.fence).toBe(1)
    expect(body.tasks.find((t) => t.name === 'secret-sync')!.lastRun).toBeNull()
  })

  it('the combined server runs the tasks on its interval as leader, and its own HTTP trigger goes through that leader', async () => {
    const server = await startNodeServer({ ORCHESTRATOR_PORT: String(await freePort()), ORCHESTRATOR_REDIS_CONNECTION: REDIS, ORCHESTRATOR_KEY_PREFIX: uniquePrefix('sched'), ORCHESTRATOR_LOG_LEVEL: 'silent', ORCHESTRATOR_LISTEN_HOST: '127.0.0.1' }, { quiet: true })
    servers.push(server)
    const status = async () => (await (await fetch(`${server.url}/orchestrator/scheduler`)).json()) as { tasks: { name: string; lastRun: unknown; leader: { holder: string } | null }[] }
    expect(await waitFor(async () => (await status()).tasks.every((t) => t.lastRun !== null && t.leader !== null), 15_000, 100)).toBe(true)
    const res = await fetch(`${server.url}/orchestrator/scheduler/run`, { method: 'POST', body: JSON.stringify({ task: 'secret-sync' }), headers: { 'content-type': 'application/json' } })
    const body = (await res.json()) as RunBody
    expect(body.ran[0]).toMatchObject({ task: 'secret-sync', ran: true, ok: true })
  })
})
