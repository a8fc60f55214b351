import { ConfigError, type Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { Platform } from '../platform.ts'
import { createUpstashStore } from './drivers/upstash.ts'
import type { Store } from './types.ts'

export * from './types.ts'

/** An edge runtime without Redis configured: refused when the context is built, naming what to set. */
export function assertStoreAvailable(config: Config, platform: Platform) {
  if (config.store !== 'memory' || platform.createMemoryStore) return
  const message = `the ${platform.name} runtime runs many isolates that share no memory, so it cannot keep state itself: point it at Redis through the Upstash REST protocol`
  throw new ConfigError(['ORCHESTRATOR_UPSTASH_URL', 'ORCHESTRATOR_UPSTASH_TOKEN'].map((variable) => ({ variable, message })))
}

/** Picks the driver the config names; TCP Redis and the in-process store only where the platform offers them. */
export function createStore(config: Config, platform: Platform, log: Logger): Store {
  assertStoreAvailable(config, platform)
  if (config.store === 'memory') return platform.createMemoryStore!()
  if (config.store === 'upstash') return createUpstashStore({ url: config.upstash!.url, token: config.upstash!.token })
  if (!platform.createStore) {
    throw new Error(`ORCHESTRATOR_STORE=redis needs a TCP socket, which the ${platform.name} runtime lacks; use ORCHESTRATOR_STORE=upstash with ORCHESTRATOR_UPSTASH_URL/TOKEN`)
  }
  return platform.createStore(config, log)
}
