import type Docker from 'dockerode'
import { afterAll, beforeAll } from 'vitest'
import { functions } from '../../functions/index.ts'
import type { Context } from '../../shared/context.ts'
import { buildApp } from '../../shared/http/app.ts'
import { asArray } from '../../shared/store/ops.ts'
import { disposeContext, testContext } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { buildDaprStandinImage, buildSampleServiceImage, testDocker } from '../fixtures/images.ts'

export const DOCKER_HOST = process.env.ORCHESTRATOR_TEST_DOCKER_HOST ?? 'unix:///run/bannou-docker.sock'

export async function testImages(docker: Docker) {
  const [sample, dapr] = await Promise.all([buildSampleServiceImage(docker), buildDaprStandinImage(docker)])
  return { sample, dapr }
}

/** A context + Hono app deploying onto the real engine with host networking and short deadlines. */
export function deployHarness(images: { sample: string; dapr: string }, env: Record<string, string | undefined> = {}) {
  // Stay below the kernel's ephemeral range (32768+): a port picked there can collide with any
  // outgoing connection on the machine, and the sidecar then exits at bind.
  const from = 20000 + Math.floor(Math.random() * 127) * 100
  const ctx = testContext({
    ORCHESTRATOR_DOCKER_HOST: DOCKER_HOST,
    ORCHESTRATOR_DOCKER_NETWORK: 'host',
    // Another suite may turn swarm mode on for a while; these tests mean the compose backend.
    ORCHESTRATOR_PREFERRED_BACKEND: 'compose',
    ORCHESTRATOR_DEFAULT_IMAGE: images.sample,
    ORCHESTRATOR_DAPR_IMAGE: images.dapr,
    ORCHESTRATOR_EXTERNAL_REDIS: '127.0.0.1:6379',
    ORCHESTRATOR_DEPLOY_VERIFY_TIMEOUT: '20',
    ORCHESTRATOR_INFRA_WAIT_TIMEOUT: '20',
    ORCHESTRATOR_STOP_GRACE_PERIOD: '1',
    ORCHESTRATOR_HOST_PORT_RANGE: `${from}-${from + 99}`,
    ...env,
  })
  const app = buildApp(functions, ctx)
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) })
    const text = await res.text()
    let json: Record<string, any> = {}
    try {
      json = JSON.parse(text)
    } catch {
      json = { text }
    }
    return { status: res.status, headers: res.headers, body: json }
  }
  return { ctx, app, call }
}

export const uniqueEnv = (label: string) => `${label}${Date.now().toString(36).slice(-4)}${Math.random().toString(36).slice(2, 5)}`

/** Every labelled container of an environment (straight from the engine, not via our backend). */
export async function labelled(docker: Docker, env: string) {
  return docker.listContainers({ all: true, filters: { label: ['bannou.managed=true', `bannou.environment=${env}`] } })
}

export async function removeEnvironment(docker: Docker, env: string) {
  for (const c of await labelled(docker, env)) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)
}

/** Outbox entries as {kind, payload}. */
export async function outbox(ctx: Context) {
  const raw = asArray(await ctx.store.call(['XRANGE', ctx.keys.outbox, '-', '+']))
  return raw.map((entry) => {
    const fields = asArray(asArray(entry)[1] ?? [])
    const m: Record<string, string> = {}
    for (let i = 0; i + 1 < fields.length; i += 2) m[String(fields[i])] = String(fields[i + 1])
    return { kind: m.kind!, payload: JSON.parse(m.payload!) as Record<string, any> }
  })
}

export type DeployHarness = ReturnType<typeof deployHarness>

/**
 * A test file's deploy suite: images and a harness built before its tests (with Redis
 * answering), every environment it named removed from the engine and the context closed after.
 */
export function useDeploySuite(env: Record<string, string | undefined> = {}) {
  const docker = testDocker()
  const envs: string[] = []
  let images: { sample: string; dapr: string } | undefined
  let harness: DeployHarness | undefined
  beforeAll(async () => {
    images = await testImages(docker)
    harness = deployHarness(images, env)
    await waitFor(async () => (await harness!.ctx.store.ping(), true), 10_000)
  }, 120_000)
  afterAll(async () => {
    for (const e of envs) await removeEnvironment(docker, e)
    if (harness) await disposeContext(harness.ctx)
  })
  return {
    docker,
    get h() {
      return harness!
    },
    get images() {
      return images!
    },
    /** A fresh environment name, removed from the engine after the file's tests. */
    environment(label: string) {
      const e = uniqueEnv(label)
      envs.push(e)
      return e
    },
  }
}
