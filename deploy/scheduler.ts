import { hostname } from 'node:os'
import { createScheduler } from '../scheduler/runner.ts'
import { ConfigError, loadConfig } from '../shared/config.ts'
import { createContext } from '../shared/context.ts'
import { nodePlatform } from './platform-node.ts'

/**
 * `npm run scheduler`: only the scheduler, no HTTP. Run as many as you like next to the
 * combined server: each task's lease lets exactly one of them run it.
 */
let config
try {
  config = loadConfig(process.env)
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(e.message)
    process.exit(2)
  }
  throw e
}
const ctx = createContext(config, nodePlatform)
const scheduler = createScheduler(ctx, { holder: `${hostname()}:${process.pid}` })
scheduler.start()
ctx.log.info('scheduler started', { holder: scheduler.holder, leaseTtlMs: config.scheduler.leaseTtlMs, leaseRetryMs: config.scheduler.leaseRetryMs })

let stopping = false
const shutdown = async (signal: string) => {
  if (stopping) return
  stopping = true
  ctx.log.info(`${signal} received; stopping the scheduler`, { holder: scheduler.holder })
  await scheduler.stop({ graceMs: 10_000 })
  await ctx.close()
  process.exit(0)
}
process.once('SIGTERM', () => void shutdown('SIGTERM'))
process.once('SIGINT', () => void shutdown('SIGINT'))
