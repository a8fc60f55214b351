import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runningDeployment } from '../../shared/environments/engine.ts'
import { asString } from '../../shared/store/ops.ts'
import { createIoredisStore } from '../../shared/store/drivers/ioredis.ts'
import { REDIS } from '../support/context.ts'
import { waitFor } from '../support/services.ts'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts'
import { useDeploySuite } from './deploy-support.ts'

/**
 * The orchestrator's own Redis goes away while a deployment runs in the background (202, no
 * wait). The deployment cannot record its outcome, but it must not take the process down
 * with an unhandled rejection: the inProgress marker it left is what crash recovery
 * (environment-watch) finishes once Redis is back.
 */
let proxy: TcpProxy
const suite = useDeploySuite({ ORCHESTRATOR_REDIS_CONNECTION: `127.0.0.1:${(proxy = await startTcpProxy(6379)).port}`, ORCHESTRATOR_DEPLOY_VERIFY_TIMEOUT: '2' })
const env = suite.environment('ro')

beforeAll(() => proxy.restore())
afterAll(async () => {
  await proxy.close()
})

describe('a deployment when the orchestrator loses Redis mid-way', () => {
  it('finishes without an unhandled rejection and leaves the crash-recovery marker', async () => {
    const topology = { nodes: [{ name: 'mute', services: [`svc-${env}`], environment: { SAMPLE_MODE: 'never-healthy' } }], infrastructure: { redis: { external: '127.0.0.1:6379' } } }
    const started = await suite.h.call('POST', '/orchestrator/deploy', { environment: env, topology })
    expect(started.status, JSON.stringify(started.body)).toBe(202)
    const done = runningDeployment(String(started.body.deploymentId))!
    expect(done).toBeDefined()
    proxy.cut() // before verification gives up, so failing it cannot be written
    const record = await done
    expect(record).toMatchObject({ id: started.body.deploymentId, status: 'interrupted', result: { ok: false, error: expect.stringContaining('crash recovery') } })
    proxy.restore()

    const direct = createIoredisStore(REDIS)
    try {
      await waitFor(async () => (await direct.ping(), true), 5_000)
      const inProgress = asString(await direct.call(['HGET', suite.h.ctx.keys.deployment(env), 'inProgress']))
      expect(JSON.parse(inProgress ?? 'null')).toMatchObject({ deploymentId: started.body.deploymentId })
    } finally {
      await direct.close()
    }
  }, 60_000)
})
