import { getRequestListener } from '@hono/node-server'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { functions } from '../functions/index.ts'
import { hostname } from 'node:os'
import { createScheduler, registerScheduler } from '../scheduler/runner.ts'
import { loadConfig, type EnvRecord } from '../shared/config.ts'
import { createContext, type Context, type ContextOverrides } from '../shared/context.ts'
import { startRelay, type Relay } from '../shared/events/relay.ts'
import { transportFor } from '../shared/events/relay-transport.ts'
import { buildApp } from '../shared/http/app.ts'
import { startupBanner } from './banner.ts'
import { createMicroCache } from './micro-cache.ts'
import { nodePlatform } from './platform-node.ts'

export interface RunningServer {
  url: string
  port: number
  ctx: Context
  close(): Promise<void>
}

/** The combined process: every function on one port plus the scheduler on its interval. */
export async function startNodeServer(env: EnvRecord, opts: { overrides?: ContextOverrides; scheduler?: boolean; relay?: boolean; quiet?: boolean } = {}): Promise<RunningServer> {
  const config = loadConfig(env)
  const ctx = createContext(config, nodePlatform, opts.overrides)
  const app = buildApp(functions, ctx)
  const cacheablePaths = new Set(functions.filter((f) => f.cacheable).flatMap((f) => [f.path, ...(f.aliases ?? []).map((a) => a.path)]))
  const cache = createMicroCache({ ttlMs: config.healthCacheMs, paths: cacheablePaths, now: ctx.clock.now })
  const listener = getRequestListener(async (request, env) => {
    const response = await app.fetch(request, env)
    await cache.store(request, response)
    return response
  })
  const server = createServer((req, res) => {
    if (!cache.tryServe(req, res)) void listener(req, res)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
    server.listen(config.port, config.listenHost)
  })
  const port = (server.address() as AddressInfo).port
  const url = `http://127.0.0.1:${port}`
  if (!opts.quiet) console.log(startupBanner(config, url))
  // Events go out continuously (not on the 30 s task interval) whenever there is somewhere
  // to send them: RabbitMQ, or the in-process bus in embedded mode.
  const relay: Relay | undefined = opts.relay !== false && transportFor(ctx.broker) ? startRelay(ctx) : undefined
  // The interval trigger; the HTTP trigger (POST /orchestrator/scheduler/run) in this process goes through it too.
  const scheduler = opts.scheduler === false ? undefined : createScheduler(ctx, { holder: `${hostname()}:${process.pid}` })
  if (scheduler) {
    registerScheduler(ctx, scheduler)
    scheduler.start()
  }
  return {
    url,
    port,
    ctx,
    close: async () => {
      await scheduler?.stop({ graceMs: 10_000 })
      await relay?.stop()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await ctx.close()
    },
  }
}
