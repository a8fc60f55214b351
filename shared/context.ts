import type { Clock } from './clock.ts'
import { systemClock } from './clock.ts'
import type { Config } from './config.ts'
import { createEmbeddedBroker, unconfiguredBroker, type Broker } from './events/broker.ts'
import { createLogger, type Logger } from './log.ts'
import type { Platform } from './platform.ts'
import { edgePlatform } from './platform.ts'
import { createKeys, type Keys } from './store/keys.ts'
import { assertStoreAvailable, createStore } from './store/index.ts'
import type { Store } from './store/types.ts'

export const VERSION = '0.1.0'

export interface Context {
  config: Config
  keys: Keys
  store: Store
  broker: Broker
  clock: Clock
  log: Logger
  platform: Platform
  startedAt: number
  version: string
  close(): Promise<void>
}

export interface ContextOverrides {
  store?: Store
  broker?: Broker
  clock?: Clock
  log?: Logger
}

/**
 * Builds the core context. Clients are created lazily on first use, so building a context
 * (and importing any module) does no I/O. Throws ConfigError when the runtime cannot serve
 * the configured store.
 */
export function createContext(config: Config, platform: Platform = edgePlatform, overrides: ContextOverrides = {}): Context {
  if (!overrides.store) assertStoreAvailable(config, platform)
  const log = overrides.log ?? createLogger(config.logLevel)
  const clock = overrides.clock ?? systemClock
  let store = overrides.store
  let broker = overrides.broker
  const ctx: Context = {
    config,
    keys: createKeys(config.keyPrefix),
    get store() {
      return (store ??= createStore(config, platform, log))
    },
    get broker() {
      if (broker) return broker
      if (config.embedded && !config.rabbitmqConnection) return (broker = createEmbeddedBroker())
      if (!config.rabbitmqConnection || !platform.createBroker) return (broker = unconfiguredBroker)
      return (broker = platform.createBroker(config, log))
    },
    clock,
    log,
    platform,
    startedAt: clock.now(),
    version: VERSION,
    close: async () => {
      await Promise.allSettled([store?.close(), broker?.close()])
    },
  }
  return ctx
}
