import { deleteKeysWithPrefix } from '../shared/store/delete-prefix.ts'
import { execFileSync } from 'node:child_process'
import autocannon from 'autocannon'
import { createIoredisStore } from '../shared/store/drivers/ioredis.ts'
import { createKeys } from '../shared/store/keys.ts'
import { heartbeatCommands } from '../shared/heartbeats/write.ts'
import type { Command } from '../shared/store/types.ts'
import { startChild } from './support/child.ts'

/**
 * Seeds N heartbeats into the real Redis, then loads GET /orchestrator/health/services
 * (?service=X and the full list) on the combined server and, in the same run, a bare
 * node:http server answering a same-sized JSON from memory. Last line: one JSON object.
 */
const quick = process.argv.includes('--quick')
const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback)
const N = arg('n', 100_000)
const PER_SERVICE = arg('per-service', 50)
const DURATION = quick ? 4 : 10
const REDIS = process.env.BENCH_REDIS ?? '127.0.0.1:6379'
const prefix = `bench:read:${Date.now().toString(36)}:`
const keys = createKeys(prefix)
const store = createIoredisStore(REDIS)

async function seed() {
  const now = Date.now()
  let batch: Command[] = []
  for (let i = 0; i < N; i++) {
    const serviceId = `svc-${Math.floor(i / PER_SERVICE)}`
    const status = i % 20 === 0 ? 'degraded' : 'healthy'
    batch.push(
      ...heartbeatCommands(keys, {
        eventId: `e-${i}`,
        timestamp: new Date(now).toISOString(),
        serviceId,
        appId: `app-${i}`,
        status,
        capacity: { maxConnections: 100, currentConnections: i % 100, cpuUsage: 0.25, memoryUsage: 0.5 },
      }, 600, now),
    )
    if (batch.length >= 4000) {
      await store.pipeline(batch)
      batch = []
    }
  }
  if (batch.length) await store.pipeline(batch)
}

async function cleanup() {
  await deleteKeysWithPrefix(store, prefix)
}

async function load(url: string, opts: { connections?: number; rate?: number; duration?: number } = {}) {
  const r = await autocannon({
    url,
    connections: opts.connections ?? 50,
    duration: opts.duration ?? DURATION,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
  })
  return { rps: Math.round(r.requests.average), p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors + r.non2xx, bytesPerResponse: Math.round(r.throughput.average / Math.max(1, r.requests.average)) }
}

/**
 * Max-throughput runs use wrk when installed (apt-get install wrk): a C load generator leaves
 * the second core to the server, so the ratio measures the servers, not the client.
 * Fixed-rate runs (p99 at 2k rps) use autocannon's overallRate.
 */
const hasWrk = (() => {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' })
    return true
  } catch (e) {
    return (e as { status?: number }).status === 1
  }
})()

function wrk(url: string, duration: number, connections = 50) {
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${duration}s`, '--latency', url], { encoding: 'utf8' })
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out)
  const p99Ms = p99 ? Number(p99[1]) * (p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1) : NaN
  const errors = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0)
  return { rps: Math.round(rps), p99Ms: Math.round(p99Ms * 100) / 100, errors }
}

const throughput = async (url: string) => (hasWrk ? wrk(url, DURATION) : load(url))

const seedStart = performance.now()
await seed()
const seedMs = Math.round(performance.now() - seedStart)
const orchestrator = await startChild('./orchestrator-server.ts', {
  ORCHESTRATOR_REDIS_CONNECTION: REDIS,
  ORCHESTRATOR_KEY_PREFIX: prefix,
  ORCHESTRATOR_LOG_LEVEL: 'error',
})
try {
  const one = `${orchestrator.url}/orchestrator/health/services?service=svc-7`
  const sample = await (await fetch(one)).text()
  const bare = await startChild('./bare-server.ts', { BARE_BODY: sample })
  try {
    await load(one, { duration: 2 }) // warm-up
    await load(bare.url, { duration: 2 })
    const perService = await throughput(one)
    const bareline = await throughput(bare.url)
    const at2k = await load(one, { rate: 2000 })
    const fullStart = performance.now()
    const fullBody = await (await fetch(`${orchestrator.url}/orchestrator/health/services`)).text()
    const fullColdMs = Math.round(performance.now() - fullStart)
    const full = await load(`${orchestrator.url}/orchestrator/health/services`, { connections: 4, duration: quick ? 4 : 8 })
    const result = {
      loadGenerator: hasWrk ? 'wrk' : 'autocannon',
      heartbeats: N,
      instancesPerService: PER_SERVICE,
      seedMs,
      perServiceRps: perService.rps,
      perServiceP99Ms: perService.p99Ms,
      bareNodeHttpRps: bareline.rps,
      bareNodeHttpP99Ms: bareline.p99Ms,
      ratioVsBaseline: Math.round((perService.rps / bareline.rps) * 100) / 100,
      perServiceAt2kRpsP99Ms: at2k.p99Ms,
      perServiceAt2kRpsAchieved: at2k.rps,
      perServiceBytes: Buffer.byteLength(sample),
      fullListRps: full.rps,
      fullListP99Ms: full.p99Ms,
      fullListColdMs: fullColdMs,
      fullListBytes: Buffer.byteLength(fullBody),
      errors: perService.errors + at2k.errors + full.errors,
    }
    console.error(`per-service: ${result.perServiceRps} rps vs bare ${result.bareNodeHttpRps} rps (x${result.ratioVsBaseline}); p99 at 2k rps ${result.perServiceAt2kRpsP99Ms} ms; full list (${N}) ${result.fullListRps} rps, p99 ${result.fullListP99Ms} ms`)
    console.log(JSON.stringify(result))
  } finally {
    bare.stop()
  }
} finally {
  orchestrator.stop()
  await cleanup()
  await store.close()
}
