import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { afterAll, beforeAll } from 'vitest'
import { repoRoot } from '../../deploy/build.ts'
import { REDIS, uniquePrefix } from '../support/context.ts'
import { defineHttpSuite } from './http-suite.ts'
import { answers200, dropPrefix, freePort } from './runtime-support.ts'

/** (c) The combined server under Deno (the `deno` npm package), started as `deno run -A deploy/deno-server.ts`. */
const prefix = uniquePrefix('deno-rt')
let deno: ChildProcess
let baseUrl: string
let output = ''

/** The real binary, not the npm wrapper (bin.cjs runs it with spawnSync, so killing the wrapper would orphan Deno). */
function denoExecutable(): string {
  const install = createRequire(import.meta.url)('deno/install_api.cjs') as { runInstall(): string }
  return install.runInstall()
}

beforeAll(async () => {
  const port = await freePort()
  baseUrl = `http://127.0.0.1:${port}`
  deno = spawn(denoExecutable(), ['run', '-A', 'deploy/deno-server.ts'], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DENO_NO_UPDATE_CHECK: '1',
      ORCHESTRATOR_PORT: String(port),
      ORCHESTRATOR_LISTEN_HOST: '127.0.0.1',
      ORCHESTRATOR_REDIS_CONNECTION: REDIS,
      ORCHESTRATOR_KEY_PREFIX: prefix,
      ORCHESTRATOR_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  deno.stdout?.on('data', (d) => (output += d))
  deno.stderr?.on('data', (d) => (output += d))
  if (!(await answers200(`${baseUrl}/orchestrator/health`, 45_000))) throw new Error(`deno-server never became healthy:\n${output}`)
}, 60_000)

afterAll(async () => {
  if (deno && deno.exitCode === null) {
    const exited = new Promise((resolve) => deno.once('exit', resolve))
    deno.kill('SIGTERM')
    await exited
  }
  await dropPrefix(prefix)
})

defineHttpSuite('Deno (combined server)', () => ({ call: (_fn, path, init) => fetch(baseUrl + path, init) }), { backend: true })
