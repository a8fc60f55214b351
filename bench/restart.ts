/**
 * Graceful restart of a 4-replica app on the compose backend and on the swarm backend
 * (real engine, host networking), under a prober hitting every instance every 50 ms.
 * Prints, per backend: total restart time, the most instances unavailable at once (must be
 * 0: on compose replacements start beside the old ones, on swarm each slot's replacement
 * starts first on the slot's other port) and failed probes (no instance answered; must be
 * 0). Swarm mode is turned on only if it was off, and left again.
 * `npx tsx bench/restart.ts [--quick]`; last line = JSON figures.
 */
import { cancelScheduledRestarts, restartInFlight } from '../shared/restarts/executor.ts'
import { requestRestart } from '../shared/restarts/request-restart.ts'
import { disposeContext } from '../test/support/context.ts'
import { testDocker } from '../test/fixtures/images.ts'
import { deployHarness, removeEnvironment, testImages, uniqueEnv } from '../test/contract/deploy-support.ts'
import { NODE_HEALTHCHECK, activeServicePorts, allAnswer, containerPorts, servicePorts, startProber } from '../test/contract/restart-support.ts'

const quick = process.argv.includes('--quick')
const REPLICAS = 4
const docker = testDocker()
const images = await testImages(docker)

async function run(backend: 'compose' | 'swarm') {
  const h = deployHarness(images, {
    ORCHESTRATOR_PREFERRED_BACKEND: backend,
    ORCHESTRATOR_RESTART_COALESCE_WINDOW: '0',
    ORCHESTRATOR_RESTART_HEALTH_TIMEOUT: '30',
    ORCHESTRATOR_RESTART_BUDGET: '100',
  })
  const env = uniqueEnv(backend === 'compose' ? 'bc' : 'bs')
  const appId = `bench-${env}`
  try {
    for (let i = 0; i < 50 && !(await h.ctx.store.ping().then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 100))
    const topology = {
      name: 'bench-restart',
      nodes: [{ name: 'web', services: [`svc-${env}`], replicas: REPLICAS, daprAppId: appId, environment: { HEARTBEAT_INTERVAL_MS: '200', BANNOU_HealthCheckCmd: NODE_HEALTHCHECK } }],
      infrastructure: { redis: { external: '127.0.0.1:6379' } },
    }
    const d = await h.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })
    if (d.status !== 200) throw new Error(`${backend} deploy failed: ${JSON.stringify(d.body)}`)
    const ports = backend === 'compose' ? () => containerPorts(docker, env, 'web') : () => servicePorts(docker, env, 'web')
    // A deploy returns once the containers started; count from the moment every replica answers.
    if (!(await allAnswer(backend === 'compose' ? ports : () => activeServicePorts(docker, env, 'web')))) throw new Error(`${backend}: not every replica answered after the deploy`)
    const prober = startProber(docker, env, 'web', 50, REPLICAS, ports)
    while (prober.stats.probes < 10) await new Promise((r) => setTimeout(r, 50))
    const t0 = performance.now()
    const accepted = await requestRestart(h.ctx, { appName: appId, reason: 'bench', priority: 'graceful', shutdownGracePeriod: quick ? 0 : 2, requestedBy: 'bench' })
    let entry = restartInFlight(accepted.restartId)
    while (!entry) {
      await new Promise((r) => setTimeout(r, 10))
      entry = restartInFlight(accepted.restartId)
    }
    const result = await entry
    const totalMs = performance.now() - t0
    const stats = await prober.stop()
    if (stats.shortfalls.length) console.error(`${backend}: fewer instances answered than expected at`, stats.shortfalls.slice(0, 10))
    if (result.result !== 'succeeded') throw new Error(`${backend} restart failed: ${result.error}`)
    return { totalMs: Math.round(totalMs), maxUnavailable: stats.maxUnavailable, failedProbes: stats.failed, probes: stats.probes }
  } finally {
    cancelScheduledRestarts(h.ctx)
    await h.call('POST', '/orchestrator/teardown', { environment: env }).catch(() => undefined)
    await removeEnvironment(docker, env)
    await disposeContext(h.ctx)
  }
}

const compose = await run('compose')
console.log(`compose: graceful restart of ${REPLICAS} replicas in ${compose.totalMs} ms, max unavailable ${compose.maxUnavailable}, failed probes ${compose.failedProbes}/${compose.probes}`)

const state = async () => ((await docker.info()) as { Swarm: { LocalNodeState: string } }).Swarm.LocalNodeState
let turnedOn = false
let swarm: Awaited<ReturnType<typeof run>>
try {
  if ((await state()) !== 'active') {
    await docker.swarmInit({ ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' })
    turnedOn = true
  }
  swarm = await run('swarm')
} finally {
  if (turnedOn) await docker.swarmLeave({ force: true })
}
console.log(`swarm:   graceful restart of ${REPLICAS} replicas in ${swarm.totalMs} ms, max unavailable ${swarm.maxUnavailable}, failed probes ${swarm.failedProbes}/${swarm.probes}`)

console.log(
  JSON.stringify({
    replicas: REPLICAS,
    composeTotalMs: compose.totalMs,
    composeMaxInstancesUnavailable: compose.maxUnavailable,
    composeFailedProbes: compose.failedProbes,
    composeProbes: compose.probes,
    swarmTotalMs: swarm.totalMs,
    swarmMaxInstancesUnavailable: swarm.maxUnavailable,
    swarmFailedProbes: swarm.failedProbes,
    swarmProbes: swarm.probes,
  }),
)
process.exit(0)
