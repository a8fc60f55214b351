import { Miniflare } from 'miniflare'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build, type Manifest } from '../../deploy/build.ts'
import { functions } from '../../functions/index.ts'
import { startUpstashProxy, type UpstashProxy } from '../../deploy/upstash-proxy.ts'
import { createKeys } from '../../shared/store/keys.ts'
import { asArray } from '../../shared/store/ops.ts'
import type { Store } from '../../shared/store/types.ts'
import { REDIS, uniquePrefix } from '../support/context.ts'
import { defineHttpSuite } from './http-suite.ts'
import { dropPrefix, readyRedis } from './runtime-support.ts'

/**
 * (b) Each edge-safe bundle in workerd (miniflare), all in ONE workerd process: one worker
 * per bundle, all talking REST to the Upstash proxy in front of the machine's Redis. No
 * nodejs_compat flag, so a stray Node API fails here as it would on a real edge host.
 */
const prefix = uniquePrefix('workerd')
const TOKEN = 'workerd-test-token'
let outDir: string
let manifest: Manifest
let proxy: UpstashProxy
let mf: Miniflare
let redis: Store

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'bannou-build-'))
  ;[manifest, proxy, redis] = await Promise.all([build({ outDir }), startUpstashProxy({ redis: REDIS, token: TOKEN }), readyRedis()])
  const bindings = {
    ORCHESTRATOR_UPSTASH_URL: proxy.url,
    ORCHESTRATOR_UPSTASH_TOKEN: TOKEN,
    ORCHESTRATOR_KEY_PREFIX: prefix,
    ORCHESTRATOR_LOG_LEVEL: 'silent',
  }
  const worker = (name: string, file: string, extra: Record<string, string> = {}) => ({
    name,
    modules: true,
    modulesRoot: outDir,
    scriptPath: join(outDir, file),
    compatibilityDate: '2026-04-01',
    bindings: { ...bindings, ...extra },
  })
  mf = new Miniflare({
    workers: [
      ...manifest.functions.filter((f) => f.runtime === 'edge').map((f) => worker(f.name, join('functions', f.file.replace(/^functions\//, '')))),
      worker('scheduler', manifest.scheduler.file),
      // The status bundle with a broken config: answers a problem naming the variable.
      worker('misconfigured', 'functions/status.mjs', { ORCHESTRATOR_UPSTASH_URL: '', ORCHESTRATOR_STORE: 'upstash' }),
      // No store configured at all: the embedded default (memory) cannot work across isolates.
      { ...worker('storeless', 'functions/status.mjs'), bindings: { ORCHESTRATOR_LOG_LEVEL: 'silent' } },
      { ...worker('storeless-scheduler', manifest.scheduler.file), bindings: { ORCHESTRATOR_LOG_LEVEL: 'silent' } },
    ],
  })
  await mf.ready
})

afterAll(async () => {
  await mf?.dispose()
  await proxy?.close()
  await redis?.close()
  await dropPrefix(prefix)
  if (outDir) await rm(outDir, { recursive: true, force: true })
})

/** The part of miniflare's worker handle used here (its own typings clash with the DOM lib). */
interface WorkerHandle {
  fetch(url: string, init?: unknown): Promise<{ status: number; headers: Iterable<[string, string]>; arrayBuffer(): Promise<ArrayBuffer> }>
  scheduled(opts: { cron?: string }): Promise<{ outcome: string; noRetry: boolean }>
}
const workerOf = async (name: string) => (await mf.getWorker(name)) as unknown as WorkerHandle

async function workerFetch(name: string, path: string, init?: RequestInit): Promise<Response> {
  const w = await workerOf(name)
  // Miniflare returns its own (undici) Response; re-wrap so the suite sees the global type.
  const res = await w.fetch(`http://orchestrator.test${path}`, init)
  return new Response(await res.arrayBuffer(), { status: res.status, headers: Object.fromEntries(res.headers) })
}

defineHttpSuite('workerd, one bundle per function', () => ({ call: workerFetch }), { backend: false })

describe('edge bundles in workerd', () => {
  it('the manifest lists every edge-safe function, each built as its own bundle', () => {
    const edge = functions.filter((f) => f.runtime === 'edge').map((f) => f.name).sort()
    expect(edge).toEqual(expect.arrayContaining(['container-status', 'health-infrastructure', 'health-services', 'heartbeats', 'presets', 'request-restart', 'should-restart', 'status']))
    expect(manifest.functions.filter((f) => f.runtime === 'edge').map((f) => f.name).sort()).toEqual(edge)
    for (const f of manifest.functions) expect(f.file).toBe(`functions/${f.name}.mjs`)
  })

  it("a bundle serves only its own function's routes", async () => {
    expect((await workerFetch('status', '/orchestrator/presets')).status).toBe(404)
    expect((await workerFetch('presets', '/orchestrator/presets')).status).toBe(200)
  })

  it('a misconfigured bundle answers 500 problem+json naming the variable', async () => {
    const res = await workerFetch('misconfigured', '/orchestrator/status')
    expect(res.status).toBe(500)
    const body = (await res.json()) as { errors: { field: string }[] }
    expect(body.errors.map((e) => e.field)).toContain('ORCHESTRATOR_UPSTASH_URL')
  })

  it('a bundle with no store configured refuses to keep state per isolate and names what to set', async () => {
    for (const [name, path, method] of [['storeless', '/orchestrator/status', 'GET'], ['storeless-scheduler', '/orchestrator/scheduler/run', 'POST']] as const) {
      const res = await workerFetch(name, path, { method })
      expect(res.status).toBe(500)
      expect(res.headers.get('content-type')).toContain('application/problem+json')
      const body = (await res.json()) as { detail: string; errors: { field: string }[] }
      expect(body.errors.map((e) => e.field)).toEqual(['ORCHESTRATOR_UPSTASH_URL', 'ORCHESTRATOR_UPSTASH_TOKEN'])
      expect(body.detail).toMatch(/share no memory/)
    }
  })
})

describe('the scheduler bundle in workerd', () => {
  const keys = createKeys(prefix)
  const plantHeartbeat = async (serviceId: string) => {
    const body = JSON.stringify({ serviceId, appId: `${serviceId}-1`, status: 'healthy', timestamp: new Date().toISOString() })
    // Written the way an existing Bannou service does it: a plain SET, no index.
    await redis.call(['SET', keys.heartbeat(serviceId, `${serviceId}-1`), body, 'EX', 90])
    return keys.heartbeatMember(serviceId, `${serviceId}-1`)
  }
  const indexed = async (member: string) => (await redis.call(['ZSCORE', keys.heartbeatIndex, member])) !== null

  it('scheduled() (cron trigger) runs the heartbeat-index sweep', async () => {
    const member = await plantHeartbeat('cronsvc')
    expect(await indexed(member)).toBe(false)
    const scheduler = await workerOf('scheduler')
    const result = await scheduler.scheduled({ cron: '* * * * *' })
    expect(result.outcome).toBe('ok')
    expect(await indexed(member)).toBe(true)
    expect(asArray(await redis.call(['SMEMBERS', keys.services])).map(String)).toContain('cronsvc')
  })

  it('POST /orchestrator/scheduler/run (HTTP trigger) runs the named task and rejects unknown ones', async () => {
    const member = await plantHeartbeat('httpsvc')
    const res = await workerFetch('scheduler', '/orchestrator/scheduler/run?task=heartbeat-index', { method: 'POST' })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { ran: { task: string; ok: boolean }[] }
    expect(body.ran).toEqual([expect.objectContaining({ task: 'heartbeat-index', ok: true })])
    expect(await indexed(member)).toBe(true)

    const unknown = await workerFetch('scheduler', '/orchestrator/scheduler/run?task=nope', { method: 'POST' })
    expect(unknown.status).toBe(400)
    expect(((await unknown.json()) as { errors: { field: string }[] }).errors[0]!.field).toBe('task')
  })

  it('tasks that drive containers or need AMQP say the Node orchestrator runs them, and carry no deploy engine', async () => {
    const res = await workerFetch('scheduler', '/orchestrator/scheduler/run?task=environment-watch', { method: 'POST' })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { ran: { task: string; ok: boolean; outcome: { skipped: string } }[] }
    expect(body.ran[0]).toMatchObject({ task: 'environment-watch', ok: true, outcome: { skipped: expect.stringMatching(/Node orchestrator/) } })
    // The engine's own messages are the fingerprint of its code.
    const code = await readFile(join(outDir, manifest.scheduler.file), 'utf8')
    expect(code).not.toContain('the orchestrator stopped during this deployment')
    expect(code).toContain('the Node orchestrator watches environments')
    const relay = (await (await workerFetch('scheduler', '/orchestrator/scheduler/run?task=outbox-relay', { method: 'POST' })).json()) as typeof body
    expect(relay.ran[0]).toMatchObject({ task: 'outbox-relay', ok: true, outcome: { skipped: expect.stringMatching(/Node orchestrator relays them/) } })
  })
})
