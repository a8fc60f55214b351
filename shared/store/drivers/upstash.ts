import { Redis } from '@upstash/redis/cloudflare'
import type { Command, RedisArg, Reply, Script, Store, StoreState } from '../types.ts'
import { StoreUnavailableError } from '../types.ts'

export interface UpstashStoreOptions {
  url: string
  token: string
  /** A request that gets no answer in this time fails as "unavailable" instead of hanging. */
  timeoutMs?: number
  fetch?: typeof fetch
}

/** Errors Redis itself returned (WRONGTYPE, ERR …) pass through; transport failures mean "unavailable". */
class UpstashReplyError extends Error {
  override name = 'ReplyError'
}

/**
 * The REST driver for edge runtimes (workerd, Deno Deploy): HTTP only, no Node built-ins.
 * Single commands go through @upstash/redis; pipelines and MULTI use the REST protocol's
 * `/pipeline` and `/multi-exec` paths directly because the client offers no raw batch call.
 */
export function createUpstashStore(opts: UpstashStoreOptions): Store {
  const timeoutMs = opts.timeoutMs ?? 3000
  const doFetch = opts.fetch ?? fetch
  const base = opts.url.replace(/\/$/, '')
  const client = new Redis({
    url: base,
    token: opts.token,
    automaticDeserialization: false,
    enableTelemetry: false,
    retry: false,
    signal: () => AbortSignal.timeout(timeoutMs),
  })
  let state: StoreState = 'connecting'

  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      const result = await work()
      state = 'ready'
      return result
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e)
      if (e instanceof UpstashReplyError || (e instanceof Error && e.name === 'UpstashError')) {
        state = 'ready'
        throw new UpstashReplyError(message)
      }
      state = 'down'
      throw new StoreUnavailableError(`Redis (REST) is unavailable: ${message}`, { cause: e })
    }
  }

  const batch = (path: 'pipeline' | 'multi-exec', cmds: readonly Command[]) =>
    guard(async () => {
      if (cmds.length === 0) return []
      const res = await doFetch(`${base}/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(cmds.map((c) => c.map(String))),
        signal: AbortSignal.timeout(timeoutMs),
      })
      const body = (await res.json()) as { result?: Reply; error?: string }[] | { error?: string }
      if (!Array.isArray(body)) {
        if (res.status >= 500 || res.status === 401) throw new Error(body.error ?? `HTTP ${res.status}`)
        throw new UpstashReplyError(body.error ?? `HTTP ${res.status}`)
      }
      return body.map((r) => {
        if (r.error) throw new UpstashReplyError(r.error)
        return r.result ?? null
      })
    })

  const exec = (cmd: readonly RedisArg[]) =>
    guard(async () => (await client.exec(cmd.map(String) as [string, ...string[]])) as Reply)

  return {
    driver: 'upstash',
    call: (cmd) => exec(cmd),
    pipeline: (cmds) => batch('pipeline', cmds),
    transaction: (cmds) => batch('multi-exec', cmds),
    runScript: (script: Script, keys: string[], args: RedisArg[]) => exec(['EVAL', script.lua, keys.length, ...keys, ...args]),
    ping: async () => {
      const start = performance.now()
      await exec(['PING'])
      return performance.now() - start
    },
    state: () => state,
    close: async () => {},
  }
}
