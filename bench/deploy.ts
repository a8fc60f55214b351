/**
 * Deploy overhead vs bare dockerode, on the real engine (host networking, locally built image).
 *  1. one container: POST /orchestrator/deploy -> container running (not yet healthy), vs
 *     dockerode create + start of the same image and env;
 *  2. 20 containers (4 nodes × 5 replicas): POST -> all running, vs a sequential create+start loop.
 * "Running" is the engine's own start event, watched on its event stream (nothing polls).
 * `npx tsx bench/deploy.ts [--quick]`; last line = JSON figures.
 */
import { functions } from '../functions/index.ts'
import { nodePlatform } from '../deploy/platform-node.ts'
import { loadConfig } from '../shared/config.ts'
import { createContext } from '../shared/context.ts'
import { buildApp } from '../shared/http/app.ts'
import { silentLogger } from '../shared/log.ts'
import { deletePrefix, uniquePrefix } from '../test/support/context.ts'
import { buildSampleServiceImage, testDocker } from '../test/fixtures/images.ts'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 9
const ROUNDS_20 = quick ? 1 : 5
const docker = testDocker()
const image = await buildSampleServiceImage(docker)
const prefix = uniquePrefix('bench')
const ctx = createContext(
  loadConfig({
    ORCHESTRATOR_REDIS_CONNECTION: '127.0.0.1:6379',
    ORCHESTRATOR_KEY_PREFIX: prefix,
    ORCHESTRATOR_LOG_LEVEL: 'silent',
    ORCHESTRATOR_DOCKER_HOST: process.env.ORCHESTRATOR_TEST_DOCKER_HOST ?? 'unix:///run/bannou-docker.sock',
    ORCHESTRATOR_DOCKER_NETWORK: 'host',
    ORCHESTRATOR_DEFAULT_IMAGE: image,
    ORCHESTRATOR_EXTERNAL_REDIS: '127.0.0.1:6379',
    ORCHESTRATOR_STOP_GRACE_PERIOD: '0',
    ORCHESTRATOR_HOST_PORT_RANGE: '31000-31999',
  }),
  nodePlatform,
  { log: silentLogger },
)
const app = buildApp(functions, ctx)
const post = async (path: string, body: unknown) => {
  const r = await app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
  return { status: r.status, body: (await r.json()) as Record<string, any> }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const round = (x: number) => Math.round(x * 10) / 10

/**
 * Resolves (with performance.now()) when n containers matching the label have started, from
 * the engine's event stream. Polling the engine instead (listContainers in a loop) competes
 * with the starts it measures for the daemon's CPU: on 2 cores it made parallel apply look
 * no faster than a sequential loop.
 */
async function startsOf(label: string, n: number): Promise<{ at: Promise<number> }> {
  const stream = (await docker.getEvents({ filters: { type: ['container'], event: ['start'], label: [label] } })) as NodeJS.ReadableStream & { destroy(): void }
  // Wrapped: an async function resolving to a bare promise would wait for it (the starts) itself.
  const at = new Promise<number>((resolve, reject) => {
    let seen = 0
    let buffered = ''
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      seen += lines.filter((l) => l.trim()).length
      if (seen >= n) {
        resolve(performance.now())
        stream.destroy()
      }
    })
    stream.on('error', reject)
  })
  return { at }
}
async function finish(location: string) {
  while (true) {
    const r = await app.request(location)
    const rec = (await r.json()) as { status: string; result?: { detail?: string } }
    if (rec.status === 'running') {
      await new Promise((res) => setTimeout(res, 100))
      continue
    }
    if (rec.status !== 'succeeded') console.error(`deployment ${location} ${rec.status}: ${rec.result?.detail ?? ''}`)
    return rec.status
  }
}

await ctx.store.ping().catch(() => undefined)
await new Promise((r) => setTimeout(r, 200))
// Warm-up: first selection of the backend, first image inspect.
{
  const w = await post('/orchestrator/deploy', { environment: 'benchwarm', topology: { nodes: [{ name: 'w', services: ['auth'] }] } })
  await finish(w.body.location)
  await post('/orchestrator/teardown', { environment: 'benchwarm' })
}

const ours: number[] = []
const bare: number[] = []
for (let i = 0; i < ROUNDS; i++) {
  const env = `bench1-${i}`
  const started = await startsOf(`bannou.environment=${env}`, 1)
  const t0 = performance.now()
  const r = await post('/orchestrator/deploy', { environment: env, topology: { nodes: [{ name: 'one', services: ['auth'] }] } })
  if (r.status !== 202) throw new Error(JSON.stringify(r.body))
  ours.push((await started.at) - t0)
  await finish(r.body.location)
  await post('/orchestrator/teardown', { environment: env })

  const bareStarted = await startsOf('bench.bare=true', 1)
  const b0 = performance.now()
  const c = await docker.createContainer({
    name: `bench-bare-${i}-${Date.now()}`,
    Image: image,
    Env: ['AUTH_SERVICE_ENABLED=true', 'DAPR_APP_ID=bare', `PORT=${32000 + i}`],
    Labels: { 'bench.bare': 'true' },
    HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'no' } },
  })
  await c.start()
  bare.push((await bareStarted.at) - b0)
  await c.remove({ force: true })
}

// 20 containers: 4 nodes × 5 replicas, against a sequential create+start loop of the same
// containers; alternating, so drift of the machine hits both alike.
const nodes = [0, 1, 2, 3].map((n) => ({ name: `n${n}`, services: ['auth'], replicas: 5, daprAppId: `bench-n${n}` }))
const parallel: number[] = []
const sequential: number[] = []
let bigStatus = 'not run'
for (let round = 0; round < ROUNDS_20; round++) {
  const env = `bench20-${round}`
  const started = await startsOf(`bannou.environment=${env}`, 20)
  const p0 = performance.now()
  const big = await post('/orchestrator/deploy', { environment: env, topology: { nodes } })
  if (big.status !== 202) throw new Error(JSON.stringify(big.body))
  parallel.push((await started.at) - p0)
  bigStatus = await finish(big.body.location)
  await post('/orchestrator/teardown', { environment: env })

  const loopStarted = await startsOf('bench.loop=true', 20)
  const s0 = performance.now()
  const loop: string[] = []
  for (let i = 0; i < 20; i++) {
    const c = await docker.createContainer({
      name: `bench-loop-${i}-${Date.now()}`,
      Image: image,
      Env: ['AUTH_SERVICE_ENABLED=true', `DAPR_APP_ID=bench-loop-${i % 4}`, `PORT=${32100 + i}`],
      Labels: { 'bench.loop': 'true' },
      HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'no' } },
    })
    await c.start()
    loop.push(c.id)
  }
  sequential.push((await loopStarted.at) - s0)
  await Promise.all(loop.map((id) => docker.getContainer(id).remove({ force: true })))
}
const parallelMs = median(parallel)
const sequentialMs = median(sequential)

await deletePrefix(prefix, ctx.store)
await ctx.close()

const figures = {
  rounds: ROUNDS,
  oneContainerDeployMedianMs: round(median(ours)),
  oneContainerBareDockerodeMedianMs: round(median(bare)),
  oneContainerOverheadMedianMs: round(median(ours) - median(bare)),
  rounds20: ROUNDS_20,
  twentyContainerDeployMs: round(parallelMs),
  twentyContainerSequentialLoopMs: round(sequentialMs),
  twentyContainerSpeedupRatio: round(sequentialMs / parallelMs),
  twentyContainerDeployResult: bigStatus,
}
console.log(`one container: deploy ${figures.oneContainerDeployMedianMs} ms vs bare ${figures.oneContainerBareDockerodeMedianMs} ms (median of ${ROUNDS})`)
console.log(`20 containers: deploy ${figures.twentyContainerDeployMs} ms vs sequential loop ${figures.twentyContainerSequentialLoopMs} ms (median of ${ROUNDS_20}; each: ${parallel.map(Math.round).join('/')} vs ${sequential.map(Math.round).join('/')})`)
console.log(JSON.stringify(figures))
