import { afterAll, beforeAll } from 'vitest'
import { startNodeServer, type RunningServer } from '../../deploy/serve-node.ts'
import { REDIS, uniquePrefix } from '../support/context.ts'
import { defineHttpSuite } from './http-suite.ts'
import { answers200, dropPrefix, freePort } from './runtime-support.ts'

/** (a) The combined Node server: every function on one port. */
let server: RunningServer
const prefix = uniquePrefix('node-rt')

beforeAll(async () => {
  const env = {
    ORCHESTRATOR_PORT: String(await freePort()),
    ORCHESTRATOR_LISTEN_HOST: '127.0.0.1',
    ORCHESTRATOR_REDIS_CONNECTION: REDIS,
    ORCHESTRATOR_KEY_PREFIX: prefix,
    ORCHESTRATOR_LOG_LEVEL: 'silent',
    // A reachable engine, so that an app that runs nowhere is a definite 404.
    ORCHESTRATOR_DOCKER_HOST: process.env.ORCHESTRATOR_TEST_DOCKER_HOST ?? 'unix:///run/bannou-docker.sock',
    ORCHESTRATOR_PREFERRED_BACKEND: 'compose',
  }
  server = await startNodeServer(env, { scheduler: false, quiet: true })
  // Ready = the readiness probe passes (Redis connected), as a load balancer would wait.
  if (!(await answers200(`${server.url}/orchestrator/health`, 10_000))) throw new Error('the Node server never became healthy')
})
afterAll(async () => {
  await server?.close()
  await dropPrefix(prefix)
})

defineHttpSuite('the combined Node server', () => ({ call: (_fn, path, init) => fetch(server.url + path, init) }), { backend: true })
