import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { managedNetwork } from '../../shared/backends/compose/client.ts'
import { disposeContext } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { REDIS_SERVER, testDocker } from '../fixtures/images.ts'
import { deployHarness, labelled, removeEnvironment, testImages, uniqueEnv } from './deploy-support.ts'

/**
 * Bridge networking end to end without touching the machine's own networks: the network
 * lives on a subnet of the benchmarking range (198.18.0.0/15, RFC 2544, never routed), and a
 * Redis bound to that network's gateway serves the orchestrator and the apps alike. Nothing
 * here talks to 172.x/10.x/192.168.x; the containers reach each other by name.
 */
const docker = testDocker()
const env = uniqueEnv('br')
const network = `bannou-br-${env}`
const fresh = `bannou-br2-${env}`
// A third octet per run, so a network left behind by a killed run cannot overlap this one.
const octet = 2 + Math.floor(Math.random() * 250)
const SUBNET = `198.18.${octet}.0/24`
const GATEWAY = `198.18.${octet}.1`
const FRESH_SUBNET = `198.19.${octet}.0/24`
const PORT = 16000 + Math.floor(Math.random() * 900)
let redis: ChildProcess | undefined
let images: { sample: string; dapr: string }

beforeAll(async () => {
  images = await testImages(docker)
  // Networks of killed runs (no containers left on them).
  for (const n of await docker.listNetworks({ filters: { name: ['bannou-br'] } })) {
    if (Object.keys(n.Containers ?? {}).length === 0) await docker.getNetwork(n.Id).remove().catch(() => undefined)
  }
  // The network first (through the helper the backend uses), so Redis can bind its gateway.
  await managedNetwork(docker, network, 'bridge', SUBNET).ensure()
  redis = spawn(REDIS_SERVER, ['--bind', GATEWAY, '--port', String(PORT), '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' })
}, 120_000)

afterAll(async () => {
  await removeEnvironment(docker, env)
  redis?.kill()
  for (const n of [network, fresh]) await docker.getNetwork(n).remove().catch(() => undefined)
})

describe.skipIf(!existsSync(REDIS_SERVER))('deploy on a bridge network', () => {
  it('starts app and sidecar on the network, resolves them by name, verifies by heartbeat, tears down', async () => {
    const h = deployHarness(images, {
      ORCHESTRATOR_REDIS_CONNECTION: `${GATEWAY}:${PORT}`,
      ORCHESTRATOR_EXTERNAL_REDIS: `${GATEWAY}:${PORT}`,
      ORCHESTRATOR_DOCKER_NETWORK: network,
      ORCHESTRATOR_DOCKER_SUBNET: SUBNET,
    })
    try {
      expect(await waitFor(async () => (await h.ctx.store.ping(), true), 10_000)).toBe(true)
      const topology = { nodes: [{ name: 'web', services: [`svc-${env}`], daprEnabled: true }], infrastructure: { redis: { external: `${GATEWAY}:${PORT}` } } }
      const d = await h.call('POST', '/orchestrator/deploy', { environment: env, topology, wait: true })
      expect(d.status, JSON.stringify(d.body)).toBe(200)

      const app = await docker.getContainer(`bannou-${env}-web-1`).inspect()
      const sidecar = await docker.getContainer(`bannou-${env}-web-1-dapr`).inspect()
      for (const c of [app, sidecar]) {
        expect(Object.keys(c.NetworkSettings.Networks)).toEqual([network])
        expect(c.NetworkSettings.Networks[network]!.IPAddress.startsWith(`198.18.${octet}.`)).toBe(true)
        expect(c.HostConfig.ExtraHosts).toContain(`redis:${GATEWAY}`)
      }
      // On a bridge the app finds its sidecar by name on the default ports, no host ports involved.
      expect(app.Config.Env).toContain(`DAPR_HTTP_ENDPOINT=http://bannou-${env}-web-1-dapr:3500`)
      expect(app.HostConfig.PortBindings ?? {}).toEqual({})
      expect(d.body.verification).toEqual(expect.arrayContaining([expect.objectContaining({ healthy: true })]))

      expect((await h.call('POST', '/orchestrator/teardown', { environment: env })).status).toBe(200)
      expect(await labelled(docker, env)).toEqual([])
    } finally {
      await disposeContext(h.ctx)
    }
  }, 120_000)

  it('creates its network on ORCHESTRATOR_DOCKER_SUBNET, labelled as its own', async () => {
    const h = deployHarness(images, { ORCHESTRATOR_DOCKER_NETWORK: fresh, ORCHESTRATOR_DOCKER_SUBNET: FRESH_SUBNET, ORCHESTRATOR_DEPLOY_VERIFY_TIMEOUT: '1' })
    const e2 = `${env}n`
    try {
      // The apps cannot reach the host's 127.0.0.1 Redis from a bridge: the deploy fails and
      // rolls back, but it has created the network by then.
      const topology = { nodes: [{ name: 'probe', services: [`svc-${env}`] }], infrastructure: { redis: { external: '127.0.0.1:6379' } } }
      const d = await h.call('POST', '/orchestrator/deploy', { environment: e2, topology, wait: true })
      expect(d.status).toBe(502)
      const info = await docker.getNetwork(fresh).inspect()
      expect(info.IPAM?.Config).toEqual([expect.objectContaining({ Subnet: FRESH_SUBNET })])
      expect(info.Labels).toMatchObject({ 'bannou.managed': 'true' })
    } finally {
      await removeEnvironment(docker, e2)
      await disposeContext(h.ctx)
    }
  }, 60_000)
})
