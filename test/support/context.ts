import { loadConfig, type EnvRecord } from '../../shared/config.ts'
import { createContext, type Context, type ContextOverrides } from '../../shared/context.ts'
import { createIoredisStore } from '../../shared/store/drivers/ioredis.ts'
import { silentLogger } from '../../shared/log.ts'
import { deleteKeysWithPrefix } from '../../shared/store/delete-prefix.ts'
import type { Store } from '../../shared/store/types.ts'
import { nodePlatform } from '../../deploy/platform-node.ts'

export const REDIS = '127.0.0.1:6379'
export const RABBITMQ = 'amqp://guest:guest@127.0.0.1:5672'

/** A key prefix unique to one test, so suites run in parallel and clean up only their own keys. */
export const uniquePrefix = (label = 't') => `test:${label}:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}:`

/** Health reads are uncached unless a test opts in, so a test sees its own writes at once. */
export function testContext(env: EnvRecord = {}, overrides: ContextOverrides = {}): Context {
  const config = loadConfig({ ORCHESTRATOR_REDIS_CONNECTION: REDIS, ORCHESTRATOR_KEY_PREFIX: uniquePrefix(), ORCHESTRATOR_LOG_LEVEL: 'silent', ORCHESTRATOR_HEALTH_CACHE_MS: '0', ...env })
  return createContext(config, nodePlatform, { log: silentLogger, ...overrides })
}

/** Deletes every key under a prefix (never FLUSHALL: the machine's Redis is shared). */
export async function deletePrefix(prefix: string, store?: Store) {
  if (!prefix.startsWith('test:')) throw new Error(`refusing to delete non-test prefix ${prefix}`)
  const s = store ?? createIoredisStore(REDIS)
  await deleteKeysWithPrefix(s, prefix)
  if (!store) await s.close()
}

/** Closes the context and removes its keys. */
export async function disposeContext(ctx: Context) {
  if (ctx.store.driver === 'redis' && ctx.keys.prefix) await deletePrefix(ctx.keys.prefix, ctx.store).catch(() => {})
  await ctx.close()
}
