import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build, bundleEdge, type Manifest } from '../../deploy/build.ts'
import { functions } from '../../functions/index.ts'

let outDir: string
let manifest: Manifest

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'bannou-build-'))
  manifest = await build({ outDir })
})
afterAll(async () => {
  if (outDir) await rm(outDir, { recursive: true, force: true })
})

describe('npm run build', () => {
  it('writes one bundle per registered function and a manifest describing each', async () => {
    const onDisk = JSON.parse(await readFile(join(outDir, 'functions', 'manifest.json'), 'utf8')) as Manifest
    expect(onDisk).toEqual(manifest)
    expect(manifest.functions.map((f) => f.name)).toEqual(functions.map((f) => f.name))
    for (const f of manifest.functions) {
      const def = functions.find((d) => d.name === f.name)!
      expect(f).toMatchObject({ method: def.method, path: def.path, permission: def.permission, runtime: def.runtime, file: `functions/${f.name}.mjs` })
      expect(f.bytes).toBe((await readFile(join(outDir, f.file))).length)
      expect(f.gzipBytes).toBeGreaterThan(0)
      expect(f.gzipBytes).toBeLessThan(f.bytes)
    }
    expect(manifest.scheduler.file).toBe('scheduler.mjs')
    expect(manifest.server.file).toBe('server.mjs')
  })

  it('each bundle exports the standard fetch-handler shape; the scheduler also scheduled()', async () => {
    for (const f of manifest.functions) {
      const mod = (await import(join(outDir, f.file))) as { default: { fetch?: unknown } }
      expect(typeof mod.default.fetch).toBe('function')
    }
    const scheduler = (await import(join(outDir, 'scheduler.mjs'))) as { default: { fetch?: unknown; scheduled?: unknown } }
    expect(typeof scheduler.default.fetch).toBe('function')
    expect(typeof scheduler.default.scheduled).toBe('function')
  })

  it('a function bundle answers in-process with config from the env argument', async () => {
    const mod = (await import(join(outDir, 'functions/status.mjs'))) as { default: { fetch(r: Request, env: unknown): Promise<Response> } }
    // The REST endpoint named in env is used: nothing listens there, so the store is unavailable.
    const env = { ORCHESTRATOR_LOG_LEVEL: 'silent', ORCHESTRATOR_UPSTASH_URL: 'http://127.0.0.1:1', ORCHESTRATOR_UPSTASH_TOKEN: 't' }
    const res = await mod.default.fetch(new Request('http://x/orchestrator/status'), env)
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toContain('application/problem+json')
    // A fresh bundle instance with no store configured: edge isolates cannot keep state themselves.
    const fresh = (await import(`${join(outDir, 'functions/status.mjs')}?fresh`)) as typeof mod
    const refused = await fresh.default.fetch(new Request('http://x/orchestrator/status'), { ORCHESTRATOR_LOG_LEVEL: 'silent' })
    expect(refused.status).toBe(500)
    expect(((await refused.json()) as { errors: { field: string }[] }).errors[0]!.field).toBe('ORCHESTRATOR_UPSTASH_URL')
  })
})

describe('Node bundles', () => {
  it('leave out dockerode features the orchestrator never uses, and say so if one is reached', async () => {
    const server = await readFile(join(outDir, 'server.mjs'), 'utf8')
    expect(server).not.toContain('@grpc/grpc-js')
    expect(server).not.toContain('ssh2')
    expect(server).toContain('ssh:// Docker hosts are not part of the orchestrator build')
    // A node-runtime function still reaches the engine API (here: no engine, a 503 naming it).
    const backends = (await import(join(outDir, 'functions/backends.mjs'))) as { default: { fetch(r: Request, env: unknown): Promise<Response> } }
    const res = await backends.default.fetch(new Request('http://x/orchestrator/backends'), {
      ORCHESTRATOR_LOG_LEVEL: 'silent',
      ORCHESTRATOR_DOCKER_HOST: 'unix:///tmp/bannou-no-engine.sock',
    })
    const body = (await res.json()) as { backends: { name: string; available: boolean; reason: string }[] }
    expect(body.backends.find((b) => b.name === 'compose'), JSON.stringify(body)).toMatchObject({ available: false, reason: expect.stringContaining('unreachable') })
  })
})

describe('the edge guard', () => {
  const out = () => join(outDir, 'guard.mjs')

  it('fails an edge bundle that pulls in ioredis, naming the bundle, the module and the import chain', async () => {
    const entry = `import { nodePlatform } from './deploy/platform-node.ts'\nexport default nodePlatform\n`
    const err = (await bundleEdge('functions/leaky', entry, out()).catch((e: Error) => e)) as Error
    expect(err).toBeInstanceOf(Error)
    expect(err.message).toContain('edge bundle "functions/leaky"')
    expect(err.message).toMatch(/Node-only module "(node:fs\/promises|node:path|ioredis|amqplib)"/)
    expect(err.message).toContain('deploy/platform-node.ts')
    expect(err.message).toContain("runtime: 'node'")
  })

  it('fails on a Node built-in with or without the node: prefix', async () => {
    for (const spec of ['node:net', 'net', 'fs/promises']) {
      const err = (await bundleEdge('functions/builtin', `import * as m from '${spec}'\nexport default m\n`, out()).catch((e: Error) => e)) as Error
      expect(err.message).toContain(`Node-only module "${spec}"`)
    }
  })

  it('names a deep importer: store driver reached through a shared module', async () => {
    const entry = `import { createIoredisStore } from './shared/store/drivers/ioredis.ts'\nexport default createIoredisStore\n`
    const err = (await bundleEdge('functions/deep', entry, out()).catch((e: Error) => e)) as Error
    expect(err.message).toContain('"ioredis"')
    expect(err.message).toContain('shared/store/drivers/ioredis.ts')
  })
})
