import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import type { Platform } from '../platform.ts'
import { createMemoryStore } from './drivers/memory.ts'
import { createUpstashStore } from './drivers/upstash.ts'
import type { Store } from './types.ts'

export * from './types.ts'

/** Picks the driver the config names; TCP Redis only where the platform offers it. */
export function createStore(config: Config, platform: Platform, log: Logger): Store {
  if (config.store === 'memory') return createMemoryStore()
  if (config.store === 'upstash') return createUpstashStore({ url: config.upstash!.url, token: config.upstash!.token })
  if (!platform.createStore) {
    throw new Error(`ORCHESTRATOR_STORE=redis needs a TCP socket, which the ${platform.name} runtime lacks; use ORCHESTRATOR_STORE=upstash with ORCHESTRATOR_UPSTASH_URL/TOKEN`)
  }
  return platform.createStore(config, log)
}
