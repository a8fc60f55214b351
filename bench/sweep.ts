import { deleteKeysWithPrefix } from '../shared/store/delete-prefix.ts'
import { spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { nodePlatform } from '../deploy/platform-node.ts'
import { createScheduler, type TaskReport } from '../scheduler/runner.ts'
import { loadConfig } from '../shared/config.ts'
import { createContext } from '../shared/context.ts'
import { heartbeatCommands } from '../shared/heartbeats/write.ts'
import { silentLogger } from '../shared/log.ts'
import { createIoredisStore } from '../shared/store/drivers/ioredis.ts'
import type { Command, Store } from '../shared/store/types.ts'

/**
 * Seeds N instances into the real Redis (5% with an expired heartbeat, 5% degraded for longer
 * than the threshold, the rest healthy), then times one full heartbeat sweep + degradation
 * check through the lease-aware runner: first run (every transition and restart request is
 * new) and a steady-state run (nothing changed, everything coalesces). Last line: JSON.
 * `npx tsx bench/sweep.ts [--quick] [--n=100000]`
 */
const quick = process.argv.includes('--quick')
const N = Number(process.argv.find((a) => a.startsWith('--n='))?.split('=')[1] ?? 100_000)
const REDIS = process.env.BENCH_REDIS ?? '127.0.0.1:6379'
const PER_SERVICE = 50
const seedOnly = process.argv.find((a) => a.startsWith('--seed-prefix='))?.split('=')[1]
const prefix = seedOnly ?? `bench:sweep:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`

let roundTrips = 0
/** BENCH_TRACE=1: print each round trip with its wall time (what to batch next). */
const trace = process.env.BENCH_TRACE === '1'
function timed<T>(label: string, p: Promise<T>): Promise<T> {
  roundTrips++
  if (!trace) return p
  const t0 = performance.now()
  return p.finally(() => console.error(`  @${t0.toFixed(0).padStart(7)} ${(performance.now() - t0).toFixed(1).padStart(7)} ms  ${label}`))
}
function counting(s: Store): Store {
  return {
    driver: s.driver,
    call: (c) => timed(String(c[0]), s.call(c)),
    pipeline: (c) => timed(`pipeline(${c.length}) ${String(c[0]?.[0])}`, s.pipeline(c)),
    transaction: (c) => timed(`multi(${c.length}) ${String(c[0]?.[0])}`, s.transaction(c)),
    runScript: (sc, k, a) => timed(`script ${sc.name} (${a.length} args)`, s.runScript(sc, k, a)),
    ping: () => s.ping(),
    state: () => s.state(),
    close: () => s.close(),
  }
}

const raw = createIoredisStore(REDIS)
const config = loadConfig({ ORCHESTRATOR_REDIS_CONNECTION: REDIS, ORCHESTRATOR_KEY_PREFIX: prefix, ORCHESTRATOR_LOG_LEVEL: 'silent' })
const ctx = createContext(config, nodePlatform, { store: counting(raw), log: silentLogger })
const keys = ctx.keys

async function waitReady() {
  for (let i = 0; i < 200; i++) {
    if (await raw.ping().then(() => true, () => false)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`Redis at ${REDIS} does not answer`)
}

async function seed() {
  const now = Date.now()
  const timeoutMs = config.heartbeatTimeoutSeconds * 1000
  const thresholdMs = config.degradationThresholdMinutes * 60_000
  let batch: Command[] = []
  const flush = async () => {
    if (batch.length) await raw.pipeline(batch)
    batch = []
  }
  for (let i = 0; i < N; i++) {
    const serviceId = `svc-${Math.floor(i / PER_SERVICE)}`
    const appId = `app-${i}`
    const member = keys.heartbeatMember(serviceId, appId)
    if (i % 20 === 1) {
      // Expired: indexed long ago, key gone.
      const seen = now - timeoutMs - 60_000
      batch.push(['ZADD', keys.heartbeatIndex, seen, member], ['ZADD', keys.serviceHeartbeatIndex(serviceId), seen, member], ['SADD', keys.services, serviceId])
    } else {
      const degraded = i % 20 === 0
      const hb = { eventId: `e-${i}`, timestamp: new Date(now).toISOString(), serviceId, appId, status: degraded ? ('degraded' as const) : ('healthy' as const), capacity: { maxConnections: 100, currentConnections: i % 100, cpuUsage: 0.25, memoryUsage: 0.5 } }
      batch.push(...heartbeatCommands(keys, hb, 900, now))
      if (degraded) batch.push(['HSET', keys.instanceDegradedSince, member, now - thresholdMs - 60_000])
    }
    if (batch.length >= 5000) await flush()
  }
  await flush()
}

async function cleanup() {
  await deleteKeysWithPrefix(raw, prefix)
}

/** Seeding runs in a child process so that this process's RSS and GC reflect only the sweep. */
async function seedInChild() {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), `--seed-prefix=${prefix}`, `--n=${N}`], { stdio: 'inherit' })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`seeding failed (exit ${code})`)
}

if (seedOnly) {
  await waitReady()
  await seed()
  await raw.close()
  process.exit(0)
}

// The seeded keys must go even when the run is cut short: a reader closing the pipe (… | head)
// must not kill the run before cleanup, and Ctrl-C deletes them before exiting.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanup().finally(() => process.exit(130))
  })
}

let peakRss = 0
// memoryUsage.rss() is cheap; memoryUsage() walks the heap spaces and would load the run it measures.
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20)

/** Redis server CPU (user + sys, ms): includes other clients of the same server, so an upper bound. */
async function redisCpuMs() {
  const info = String(await raw.call(['INFO', 'cpu']))
  const get = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN)
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1000
}

/** BENCH_PROFILE=file.cpuprofile: a CPU profile of the first run only (open it in Chrome DevTools). */
async function profiled<T>(fn: () => Promise<T>): Promise<T> {
  const file = process.env.BENCH_PROFILE
  if (!file) return fn()
  const { Session } = await import('node:inspector/promises')
  const { writeFile } = await import('node:fs/promises')
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  try {
    return await fn()
  } finally {
    const { profile } = await session.post('Profiler.stop')
    await writeFile(file, JSON.stringify(profile))
    session.disconnect()
  }
}

async function fullRun() {
  const scheduler = createScheduler(ctx, { holder: 'bench' })
  const before = roundTrips
  const redis0 = await redisCpuMs()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const [sweep] = await scheduler.runNow({ task: 'heartbeat-sweep' })
  const t1 = performance.now()
  const [degradation] = await scheduler.runNow({ task: 'degradation-check' })
  const t2 = performance.now()
  const cpu = process.cpuUsage(cpu0)
  const redisMs = (await redisCpuMs()) - redis0
  await scheduler.stop()
  const check = (r: TaskReport | undefined) => {
    if (!r?.ok) throw new Error(`task failed: ${JSON.stringify(r)}`)
    return r.outcome!
  }
  return {
    sweepMs: Math.round(t1 - t0),
    degradationMs: Math.round(t2 - t1),
    totalMs: Math.round(t2 - t0),
    roundTrips: roundTrips - before,
    nodeCpuMs: Math.round((cpu.user + cpu.system) / 1000),
    redisCpuMs: Math.round(redisMs),
    sweep: check(sweep),
    degradation: (({ decisions: _d, ...rest }) => rest)(check(degradation) as Record<string, unknown> & { decisions?: unknown }),
  }
}

try {
  await waitReady()
  const s0 = performance.now()
  await seedInChild()
  const seedMs = Math.round(performance.now() - s0)
  console.log(`seeded ${N} instances under ${prefix} in ${seedMs} ms`)
  const rssBeforeMb = Math.round(process.memoryUsage().rss / 1048576)
  peakRss = process.memoryUsage().rss
  const first = await profiled(fullRun)
  console.log('first run (all transitions new):', JSON.stringify(first))
  const steady = await fullRun()
  console.log('steady run (nothing changed):', JSON.stringify(steady))
  const runs = quick ? [] : [await fullRun(), await fullRun()]
  const steadyMs = Math.min(steady.totalMs, ...runs.map((r) => r.totalMs))
  clearInterval(sampler)
  console.log(
    JSON.stringify({
      instances: N,
      expired: Math.round(N / 20),
      degraded: Math.round(N / 20),
      firstRunMs: first.totalMs,
      firstSweepMs: first.sweepMs,
      firstDegradationMs: first.degradationMs,
      firstRunRoundTrips: first.roundTrips,
      firstNodeCpuMs: first.nodeCpuMs,
      firstRedisCpuMs: first.redisCpuMs,
      steadyRunMs: steadyMs,
      steadySweepMs: steady.sweepMs,
      steadyDegradationMs: steady.degradationMs,
      steadyRunRoundTrips: steady.roundTrips,
      steadyNodeCpuMs: steady.nodeCpuMs,
      steadyRedisCpuMs: steady.redisCpuMs,
      loadAvg1m: Math.round(loadavg()[0]! * 100) / 100,
      instancesPerSecFirst: Math.round(N / (first.totalMs / 1000)),
      instancesPerSecSteady: Math.round(N / (steadyMs / 1000)),
      restartsRequestedFirst: (first.degradation as { restartsAccepted?: number }).restartsAccepted,
      lostFirst: (first.sweep as { lost?: number }).lost,
      rssBeforeMb,
      peakRssMb: Math.round(peakRss / 1048576),
      seedMs,
    }),
  )
} finally {
  clearInterval(sampler)
  await cleanup()
  await ctx.close()
  await raw.close()
}
