import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build as esbuild } from 'esbuild'
import { Miniflare } from 'miniflare'
import { build, repoRoot, type FunctionEntry } from '../deploy/build.ts'
import { startUpstashProxy } from '../deploy/upstash-proxy.ts'

/**
 * `npx tsx bench/bundles.ts [--quick]`: per-bundle gzip size, cold start to first response
 * in workerd (miniflare) and in Node, and the combined Node server's time to first 200.
 * Targets: every edge bundle ≤ 1 MB gzip, cold start ≤ 50 ms in workerd, Node server ≤ 500 ms.
 *
 * workerd cold start = what one isolate of the bundle costs to start (N copies in one workerd
 * process vs N empty workers, divided by N) + its first request's extra time over an empty
 * worker's: the cost on top of the runtime's own process start, which a real edge host has
 * already paid. Node cold start = import of the
 * bundle + first response, timed inside a fresh node process. Medians over the runs.
 */
const quick = process.argv.includes('--quick')
/** `--only a,b`: measure just these bundles (the figures then cover only them). */
const onlyArg = process.argv.indexOf('--only')
const only = onlyArg > 0 ? new Set((process.argv[onlyArg + 1] ?? '').split(',').filter(Boolean)) : undefined
const RUNS = quick ? 1 : 5
const COPIES = quick ? 10 : 20
const REDIS = process.env.ORCHESTRATOR_BENCH_REDIS ?? '127.0.0.1:6379'
const TOKEN = 'bench-token'
const prefix = `bench:bundles:${Date.now().toString(36)}:`
const TARGETS = { edgeGzipBytes: 1024 * 1024, workerdColdStartMs: 50, nodeServerFirst200Ms: 500 }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const round = (x: number) => Math.round(x * 10) / 10

/** A request each function answers itself (its own route; valid input where it takes a body; path parameters filled). */
function sampleRequest(f: Pick<FunctionEntry, 'name' | 'method' | 'path'>): { url: string; init: RequestInit } {
  const url = `http://bench.test${f.path.replace(/:[A-Za-z]+/g, 'bench')}`
  if (f.method === 'GET') return { url, init: {} }
  const body =
    f.name === 'heartbeats'
      ? { eventId: 'bench', timestamp: new Date().toISOString(), serviceId: 'bench', appId: 'bench-1', status: 'healthy' }
      : f.name === 'should-restart'
        ? { serviceName: 'bench' }
        : {}
  return { url, init: { method: f.method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } }
}

async function freePort() {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address() as AddressInfo
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/**
 * N copies of one script in ONE workerd process: the process start is shared, so the ready time
 * difference against N empty workers, divided by N, is what one isolate of this bundle costs
 * to start (compile + top-level evaluation). Timers are frozen inside workerd, so the
 * measurement has to be taken from outside like this.
 */
async function workerdStart(scriptPath: string, modulesRoot: string, copies: number, bindings: Record<string, string>, req: { url: string; init: RequestInit }) {
  const t0 = performance.now()
  const workers = Array.from({ length: copies }, (_, i) => ({ name: `w${i}`, modules: true, modulesRoot, scriptPath, compatibilityDate: '2026-04-01', bindings }))
  const mf = new Miniflare({ workers })
  await mf.ready
  const readyMs = performance.now() - t0
  const t1 = performance.now()
  const res = await mf.dispatchFetch(req.url, req.init as never)
  await res.arrayBuffer()
  const firstRequestMs = performance.now() - t1
  await mf.dispose()
  // A 4xx from the function (e.g. 404 for an unknown deployment id) is still its first answer; 5xx is a failure.
  if (res.status >= 500) throw new Error(`${scriptPath} answered ${res.status}`)
  return { readyMs, firstRequestMs }
}

function runNode(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`node ${args.join(' ')} exited ${code}`))))
  })
}

/** Time to the bundle's first answer; 503 counts (a node-runtime bundle with no Docker engine here answers that). */
async function nodeColdStart(bundle: string, env: Record<string, string>, req: { url: string; init: RequestInit }) {
  const script = `const t0 = performance.now(); const m = await import(${JSON.stringify(bundle)});
const r = await m.default.fetch(new Request(${JSON.stringify(req.url)}, ${JSON.stringify(req.init)}), ${JSON.stringify(env)});
await r.arrayBuffer(); if (r.status >= 500 && r.status !== 503) process.exit(1); console.log(performance.now() - t0); process.exit(0)`
  return Number((await runNode(['--input-type=module', '-e', script], {})).trim())
}

async function nodeServerFirst200(server: string) {
  const port = await freePort()
  const t0 = performance.now()
  const child = spawn(process.execPath, [server], {
    env: { PATH: process.env.PATH ?? '', ORCHESTRATOR_PORT: String(port), ORCHESTRATOR_LISTEN_HOST: '127.0.0.1', ORCHESTRATOR_REDIS_CONNECTION: REDIS, ORCHESTRATOR_KEY_PREFIX: prefix, ORCHESTRATOR_LOG_LEVEL: 'silent' },
    stdio: 'ignore',
  })
  try {
    for (;;) {
      if (performance.now() - t0 > 15_000) throw new Error('the Node server did not answer 200 within 15 s')
      const ok = await fetch(`http://127.0.0.1:${port}/orchestrator/health`).then((r) => r.status === 200, () => false)
      if (ok) return performance.now() - t0
      await new Promise((r) => setTimeout(r, 2))
    }
  } finally {
    child.kill('SIGTERM')
  }
}

const out = await mkdtemp(join(tmpdir(), 'bannou-bench-'))
const proxy = await startUpstashProxy({ redis: REDIS, token: TOKEN })
try {
  const manifest = await build({ outDir: out })
  const edgeEnv = { ORCHESTRATOR_UPSTASH_URL: proxy.url, ORCHESTRATOR_UPSTASH_TOKEN: TOKEN, ORCHESTRATOR_KEY_PREFIX: prefix, ORCHESTRATOR_LOG_LEVEL: 'silent' }
  const nodeEnv = { ORCHESTRATOR_REDIS_CONNECTION: REDIS, ORCHESTRATOR_KEY_PREFIX: prefix, ORCHESTRATOR_LOG_LEVEL: 'silent' }
  await writeFile(join(out, 'empty.mjs'), 'export default { fetch: () => new Response("ok") }\n')

  // Side-by-side reference: the smallest useful Hono worker, to show what this machine charges per isolate.
  await esbuild({
    stdin: { contents: "import { Hono } from 'hono'\nconst app = new Hono()\napp.get('/', (c) => c.json({ ok: true }))\nexport default app\n", resolveDir: repoRoot, loader: 'ts' },
    bundle: true, format: 'esm', platform: 'neutral', mainFields: ['module', 'main'], minify: true, outfile: join(out, 'hono-hello.mjs'), logLevel: 'silent',
  })
  const scheduler = { name: 'scheduler', method: 'POST', path: '/orchestrator/scheduler/run', file: manifest.scheduler.file, bytes: manifest.scheduler.bytes, gzipBytes: manifest.scheduler.gzipBytes, runtime: 'edge' as const }
  const all = [...manifest.functions, scheduler].filter((f) => !only || only.has(f.name))
  const edgeBundles = all.filter((f) => f.runtime === 'edge')
  const isolate = new Map<string, number[]>()
  const firstReq = new Map<string, number[]>()
  const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v])
  for (let run = 0; run < RUNS; run++) {
    // Baseline in the same run, so drift of the machine cancels out.
    const empty = await workerdStart(join(out, 'empty.mjs'), out, COPIES, {}, { url: 'http://bench.test/', init: {} })
    const hono = await workerdStart(join(out, 'hono-hello.mjs'), out, COPIES, {}, { url: 'http://bench.test/', init: {} })
    push(isolate, 'hono-hello', Math.max(0, (hono.readyMs - empty.readyMs) / COPIES))
    push(firstReq, 'hono-hello', Math.max(0, hono.firstRequestMs - empty.firstRequestMs))
    for (const f of edgeBundles) {
      const w = await workerdStart(join(out, f.file), out, COPIES, edgeEnv, sampleRequest(f))
      push(isolate, f.name, Math.max(0, (w.readyMs - empty.readyMs) / COPIES))
      push(firstReq, f.name, Math.max(0, w.firstRequestMs - empty.firstRequestMs))
    }
  }
  const coldOf = (name: string) => round(median(isolate.get(name)!) + median(firstReq.get(name)!))
  const rows: Record<string, { bytes: number; gzipBytes: number; workerdIsolateStartMs: number | null; workerdFirstRequestMs: number | null; workerdColdStartMs: number | null; nodeColdStartMs: number }> = {}
  for (const f of all) {
    // Node runs edge bundles with the same REST config; node-runtime bundles read TCP Redis.
    const nodeMs = await sequential(RUNS, () => nodeColdStart(join(out, f.file), f.runtime === 'edge' ? edgeEnv : nodeEnv, sampleRequest(f)))
    const edge = f.runtime === 'edge'
    rows[f.name] = {
      bytes: f.bytes,
      gzipBytes: f.gzipBytes,
      workerdIsolateStartMs: edge ? round(median(isolate.get(f.name)!)) : null,
      workerdFirstRequestMs: edge ? round(median(firstReq.get(f.name)!)) : null,
      workerdColdStartMs: edge ? coldOf(f.name) : null,
      nodeColdStartMs: round(median(nodeMs)),
    }
  }
  const serverFirst200Ms = round(median(await sequential(RUNS, () => nodeServerFirst200(join(out, manifest.server.file)))))

  console.log('bundle                   gzip KB  workerd: isolate ms  1st req ms  cold ms   node cold ms')
  for (const [name, r] of Object.entries(rows)) {
    const cells = [r.workerdIsolateStartMs, r.workerdFirstRequestMs, r.workerdColdStartMs].map((x) => String(x ?? '-'))
    console.log(`${name.padEnd(24)} ${(r.gzipBytes / 1024).toFixed(1).padStart(7)} ${cells[0]!.padStart(19)} ${cells[1]!.padStart(11)} ${cells[2]!.padStart(8)} ${String(r.nodeColdStartMs).padStart(14)}`)
  }
  console.log(`reference hono-hello worker: ${coldOf('hono-hello')} ms cold in workerd (${COPIES} isolates per process, ${RUNS} run(s), medians)`)
  console.log(`server.mjs ${(manifest.server.gzipBytes / 1024).toFixed(1)} KB gzip: first 200 on /orchestrator/health after ${serverFirst200Ms} ms`)
  const edge = Object.values(rows).filter((r) => r.workerdColdStartMs !== null)
  const figures = {
    runs: RUNS,
    workerdIsolatesPerProcess: COPIES,
    maxEdgeGzipBytes: Math.max(...edge.map((r) => r.gzipBytes)),
    maxWorkerdColdStartMs: Math.max(...edge.map((r) => r.workerdColdStartMs!)),
    medianWorkerdColdStartMs: median(edge.map((r) => r.workerdColdStartMs!)),
    honoHelloWorkerdColdStartMs: coldOf('hono-hello'),
    maxNodeColdStartMs: Math.max(...Object.values(rows).map((r) => r.nodeColdStartMs)),
    serverGzipBytes: manifest.server.gzipBytes,
    nodeServerFirst200Ms: serverFirst200Ms,
  }
  const pass =
    figures.maxEdgeGzipBytes <= TARGETS.edgeGzipBytes && figures.maxWorkerdColdStartMs <= TARGETS.workerdColdStartMs && figures.nodeServerFirst200Ms <= TARGETS.nodeServerFirst200Ms
  console.log(JSON.stringify({ ...figures, bundles: rows, targets: TARGETS, pass }))
} finally {
  await proxy.close()
  await cleanup()
  await rm(out, { recursive: true, force: true })
}

async function sequential<T>(n: number, fn: () => Promise<T>): Promise<T[]> {
  const xs: T[] = []
  for (let i = 0; i < n; i++) xs.push(await fn())
  return xs
}

/** Removes the bench's keys through the proxy's Redis (never FLUSHALL). */
async function cleanup() {
  const { createIoredisStore } = await import('../shared/store/drivers/ioredis.ts')
  const store = createIoredisStore(REDIS)
  for (let i = 0; i < 100 && store.state() !== 'ready'; i++) await new Promise((r) => setTimeout(r, 20))
  let cursor = '0'
  do {
    const [next, keys] = (await store.call(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000])) as [string, string[]]
    cursor = next
    if (keys.length) await store.call(['DEL', ...keys])
  } while (cursor !== '0')
  await store.close()
}
