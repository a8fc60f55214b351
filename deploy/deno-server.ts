import { functions } from '../functions/index.ts'
import { createScheduler, registerScheduler } from '../scheduler/runner.ts'
import { ConfigError } from '../shared/config.ts'
import { startupBanner } from './banner.ts'
import { buildApp } from '../shared/http/app.ts'
import { createFetchHandler } from './fetch-handler.ts'
import { nodePlatform } from './platform-node.ts'

/** The slice of the Deno namespace this entry uses (the repo type-checks against Node types). */
declare const Deno: {
  env: { toObject(): Record<string, string> }
  serve(opts: { port: number; hostname: string; onListen?: () => void }, handler: (r: Request) => Promise<Response>): { shutdown(): Promise<void> }
  addSignalListener(signal: 'SIGTERM' | 'SIGINT', fn: () => void): void
  exit(code: number): never
  pid: number
}

/** `deno run -A deploy/deno-server.ts`: the combined process on Deno; its Node compatibility runs ioredis/amqplib. */
const env = Deno.env.toObject()
try {
  const handler = createFetchHandler(functions, env, { ...nodePlatform, name: 'deno' }, buildApp)
  const { config } = handler.ctx
  const hostname = env.ORCHESTRATOR_LISTEN_HOST ?? '0.0.0.0'
  const server = Deno.serve({ port: config.port, hostname, onListen: () => console.log(startupBanner(config, `http://127.0.0.1:${config.port}`)) }, handler.fetch)
  const scheduler = createScheduler(handler.ctx, { holder: `deno:${Deno.pid}` })
  registerScheduler(handler.ctx, scheduler)
  scheduler.start()
  const shutdown = async () => {
    await scheduler.stop({ graceMs: 10_000 })
    await server.shutdown()
    await handler.ctx.close()
    Deno.exit(0)
  }
  Deno.addSignalListener('SIGTERM', () => void shutdown())
  Deno.addSignalListener('SIGINT', () => void shutdown())
} catch (e) {
  if (!(e instanceof ConfigError)) throw e
  console.error(e.message)
  Deno.exit(2)
}
