/**
 * Deploy overhead vs bare dockerode, on the real engine (host networking, locally built image).
 *  1. one container: POST /orchestrator/deploy -> container running (not yet healthy), vs
 *     dockerode create + start of the same image and env;
 *  2. 20 containers (4 nodes × 5 replicas): POST -> all running, vs a sequential create+start loop.
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

async function allRunning(env: string, n: number) {
  while (true) {
    const cs = await docker.listContainers({ filters: { label: [`bannou.environment=${env}`], status: ['running'] } })
    if (cs.length >= n) return
  }
}
async function finish(location: string) {
  while (true) {
    const r = await app.request(location)
    const rec = (await r.json()) as { status: string }
    if (rec.status !== 'running') return rec.status
    await new Promise((res) => setTimeout(res, 100))
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
  const t0 = performance.now()
  const r = await post('/orchestrator/deploy', { environment: env, topology: { nodes: [{ name: 'one', services: ['auth'] }] } })
  if (r.status !== 202) throw new Error(JSON.stringify(r.body))
  await allRunning(env, 1)
  ours.push(performance.now() - t0)
  await finish(r.body.location)
  await post('/orchestrator/teardown', { environment: env })

  const b0 = performance.now()
  const c = await docker.createContainer({
    name: `bench-bare-${i}-${Date.now()}`,
    Image: image,
    Env: ['AUTH_SERVICE_ENABLED=true', 'DAPR_APP_ID=bare', `PORT=${32000 + i}`],
    Labels: { 'bench.bare': 'true' },
    HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'no' } },
  })
  await c.start()
  while (!(await c.inspect()).State.Running) {}
  bare.push(performance.now() - b0)
  await c.remove({ force: true })
}

// 20 containers: 4 nodes × 5 replicas.
const nodes = [0, 1, 2, 3].map((n) => ({ name: `n${n}`, services: ['auth'], replicas: 5, daprAppId: `bench-n${n}` }))
const p0 = performance.now()
const big = await post('/orchestrator/deploy', { environment: 'bench20', topology: { nodes } })
if (big.status !== 202) throw new Error(JSON.stringify(big.body))
await allRunning('bench20', 20)
const parallelMs = performance.now() - p0
const bigStatus = await finish(big.body.location)
await post('/orchestrator/teardown', { environment: 'bench20' })

const s0 = performance.now()
const loop: string[] = []
for (let i = 0; i < 20; i++) {
  const c = await docker.createContainer({
    name: `bench-loop-${i}-${Date.now()}`,
    Image: image,
    Env: ['AUTH_SERVICE_ENABLED=true', `DAPR_APP_ID=bench-loop-${i % 4}`, `PORT=${32100 + i}`],
    Labels: { 'bench.bare': 'true' },
    HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'no' } },
  })
  await c.start()
  loop.push(c.id)
}
while ((await docker.listContainers({ filters: { label: ['bench.bare=true'], status: ['running'] } })).length < 20) {}
const sequentialMs = performance.now() - s0
await Promise.all(loop.map((id) => docker.getContainer(id).remove({ force: true })))

await deletePrefix(prefix, ctx.store)
await ctx.close()

const figures = {
  rounds: ROUNDS,
  oneContainerDeployMedianMs: round(median(ours)),
  oneContainerBareDockerodeMedianMs: round(median(bare)),
  oneContainerOverheadMedianMs: round(median(ours) - median(bare)),
  twentyContainerDeployMs: round(parallelMs),
  twentyContainerSequentialLoopMs: round(sequentialMs),
  twentyContainerSpeedupRatio: round(sequentialMs / parallelMs),
  twentyContainerDeployResult: bigStatus,
}
console.log(`one container: deploy ${figures.oneContainerDeployMedianMs} ms vs bare ${figures.oneContainerBareDockerodeMedianMs} ms (median of ${ROUNDS})`)
console.log(`20 containers: deploy ${figures.twentyContainerDeployMs} ms vs sequential loop ${figures.twentyContainerSequentialLoopMs} ms`)
console.log(JSON.stringify(figures))
