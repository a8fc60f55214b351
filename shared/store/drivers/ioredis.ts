import { Redis, type RedisOptions } from 'ioredis'
import type { Command, RedisArg, Reply, Script, Store, StoreState } from '../types.ts'
import { StoreUnavailableError } from '../types.ts'
import { errorMessage } from '../../errors.ts'

export interface IoredisStoreOptions {
  /** Backoff for reconnects; the reference uses 1 s → 30 s. */
  retryBaseMs?: number
  retryMaxMs?: number
  /** A command that gets no answer in this time fails as "unavailable" instead of hanging. */
  commandTimeoutMs?: number
  /** While (re)connecting, a command waits this long for the connection before failing fast. */
  connectWaitMs?: number
  onStateChange?: (state: StoreState, error?: Error) => void
}

/** Accepts `host:port`, `host:port,password=…,ssl=true` (StackExchange style), `redis://…`, `rediss://…`. */
export function parseRedisConnection(connection: string): RedisOptions & { url?: string } {
  if (/^rediss?:\/\//.test(connection)) return { url: connection }
  const [hostPort, ...opts] = connection.split(',')
  const m = /^(.*?)(?::(\d+))?$/.exec(hostPort!.trim())
  const options: RedisOptions = { host: m?.[1] || '127.0.0.1', port: m?.[2] ? Number(m[2]) : 6379 }
  for (const opt of opts) {
    const [k, ...rest] = opt.split('=')
    const value = rest.join('=').trim()
    const key = k!.trim().toLowerCase()
    if (key === 'password') options.password = value
    else if (key === 'user' || key === 'username') options.username = value
    else if (key === 'ssl' && value.toLowerCase() === 'true') options.tls = {}
    else if (key === 'defaultdatabase') options.db = Number(value)
  }
  return options
}

const isReplyError = (e: unknown) => e instanceof Error && e.name === 'ReplyError'

function toStoreError(e: unknown): Error {
  if (isReplyError(e)) return e as Error
  const message = errorMessage(e)
  return new StoreUnavailableError(`Redis is unavailable: ${message}`, { cause: e })
}

export function createIoredisStore(connection: string, opts: IoredisStoreOptions = {}): Store {
  const base = opts.retryBaseMs ?? 1000
  const max = opts.retryMaxMs ?? 30_000
  const { url, ...parsed } = parseRedisConnection(connection)
  const options: RedisOptions = {
    ...parsed,
    lazyConnect: false,
    // Fail fast while disconnected: callers answer 503 rather than queueing requests.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs ?? 3000,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(base * 2 ** Math.max(0, times - 1), max),
  }
  const redis = url ? new Redis(url, options) : new Redis(options)
  let state: StoreState = 'connecting'
  let closed = false
  const setState = (s: StoreState, error?: Error) => {
    if (s === state || closed) return
    state = s
    opts.onStateChange?.(s, error)
  }
  redis.on('ready', () => setState('ready'))
  redis.on('error', (e: Error) => setState('down', e))
  redis.on('close', () => setState(state === 'ready' ? 'connecting' : state))
  redis.on('reconnecting', () => setState(state === 'ready' ? 'connecting' : state))

  const connectWaitMs = opts.connectWaitMs ?? 1000
  // One shared wait for every command arriving while (re)connecting: one 'ready' listener, not one each.
  let waiting: Promise<void> | undefined
  const untilReady = () =>
    (waiting ??= new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        redis.off('ready', done)
        waiting = undefined
        resolve()
      }
      const timer = setTimeout(done, connectWaitMs)
      redis.once('ready', done)
    }))
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      if (redis.status !== 'ready') await untilReady()
      return await work()
    } catch (e) {
      throw toStoreError(e)
    }
  }
  const unwrap = (results: [Error | null, unknown][] | null): Reply[] => {
    if (!results) throw new Error('transaction aborted')
    return results.map(([err, value]) => {
      if (err) throw err
      return value as Reply
    })
  }
  const batch = (multi: boolean, cmds: readonly Command[]) =>
    guard(async () => {
      if (cmds.length === 0) return []
      const p = multi ? redis.multi() : redis.pipeline()
      for (const [name, ...args] of cmds) p.call(name, ...args)
      return unwrap((await p.exec()) as [Error | null, unknown][] | null)
    })

  return {
    driver: 'redis',
    call: (cmd) => guard(async () => (await redis.call(cmd[0], ...cmd.slice(1))) as Reply),
    pipeline: (cmds) => batch(false, cmds),
    transaction: (cmds) => batch(true, cmds),
    runScript: (script: Script, keys: string[], args: RedisArg[]) =>
      guard(async () => (await redis.call('EVAL', script.lua, keys.length, ...keys, ...args)) as Reply),
    ping: () =>
      guard(async () => {
        const start = performance.now()
        await redis.call('PING')
        return performance.now() - start
      }),
    state: () => (redis.status === 'ready' ? 'ready' : state === 'ready' ? 'connecting' : state),
    close: async () => {
      // A deliberate close is not an outage: no "retrying" state change after it.
      closed = true
      redis.disconnect(false)
    },
  }
}
