import Docker from 'dockerode'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build } from '../../deploy/build.ts'
import { prepareScratchContext } from '../../deploy/scratch-context.ts'
import { REDIS, uniquePrefix } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { dropPrefix, freePort } from '../e2e/runtime-support.ts'

/**
 * Builds deploy/Dockerfile.scratch through the Engine API (context sent as a tar stream) on
 * the test engine, runs it with host networking against the machine's Redis and asks the
 * health endpoint on 127.0.0.1. Everything created carries bannou.test=true and is removed.
 */
const LABELS = { 'bannou.test': 'true' }
const host = process.env.ORCHESTRATOR_TEST_DOCKER_HOST ?? 'unix:///run/bannou-docker.sock'
const docker = new Docker({ socketPath: host.replace(/^unix:\/\//, '') })
const tag = `bannou-orchestrator-test:scratch-${Date.now().toString(36)}`
const prefix = uniquePrefix('image')
let work: string
let container: Docker.Container | undefined

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bannou-image-'))
  await build({ outDir: join(work, 'dist') })
  const src = await prepareScratchContext(join(work, 'context'), join(work, 'dist', 'server.mjs'))
  const stream = await docker.buildImage({ context: join(work, 'context'), src }, { t: tag, labels: LABELS, rm: true, forcerm: true })
  const output = await new Promise<{ error?: string; stream?: string }[]>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, res: { error?: string; stream?: string }[]) => (err ? reject(err) : resolve(res))),
  )
  const failed = output.find((o) => o.error)
  if (failed) throw new Error(`image build failed: ${failed.error}\n${output.map((o) => o.stream ?? '').join('')}`)
}, 120_000)

afterAll(async () => {
  await container?.remove({ force: true }).catch(() => {})
  await docker.getImage(tag).remove({ force: true }).catch(() => {})
  await dropPrefix(prefix)
  if (work) await rm(work, { recursive: true, force: true })
})

describe('the FROM scratch orchestrator image', () => {
  it('is labelled, runs as a non-root user and has a health check on /orchestrator/health', async () => {
    const image = await docker.getImage(tag).inspect()
    expect(image.Config.Labels).toMatchObject(LABELS)
    expect(image.Config.User).toBe('65534:65534')
    expect(JSON.stringify(image.Config.Healthcheck?.Test)).toContain('/orchestrator/health')
  })

  it('starts with host networking on a read-only root fs and answers /orchestrator/health on 127.0.0.1', async () => {
    const port = await freePort()
    container = await docker.createContainer({
      Image: tag,
      name: `bannou-test-image-${Date.now().toString(36)}`,
      Labels: LABELS,
      Env: [`ORCHESTRATOR_PORT=${port}`, 'ORCHESTRATOR_LISTEN_HOST=127.0.0.1', `ORCHESTRATOR_REDIS_CONNECTION=${REDIS}`, `ORCHESTRATOR_KEY_PREFIX=${prefix}`],
      HostConfig: { NetworkMode: 'host', ReadonlyRootfs: true },
    })
    await container.start()
    const url = `http://127.0.0.1:${port}/orchestrator/health`
    const healthy = await waitFor(async () => (await fetch(url, { signal: AbortSignal.timeout(1000) })).status === 200, 30_000, 100)
    if (!healthy) {
      const logs = await container.logs({ stdout: true, stderr: true, tail: 50 })
      throw new Error(`the container never answered 200 on ${url}; logs:\n${logs.toString()}`)
    }
    const body = (await (await fetch(url)).json()) as { status: string; components: { name: string; status: string }[] }
    expect(body.status).toBe('healthy')
    expect(body.components.find((c) => c.name === 'redis')?.status).toBe('healthy')
    const status = (await (await fetch(`http://127.0.0.1:${port}/orchestrator/status`)).json()) as { mode: string }
    expect(status.mode).toBe('persistent')
  })
})
