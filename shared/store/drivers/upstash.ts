import type { Command, RedisArg, Reply, Script, Store, StoreState } from '../types.ts'
import { StoreUnavailableError } from '../types.ts'
import { errorMessage } from '../../errors.ts'

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
 * It speaks the Upstash REST protocol itself: `POST /` with one command, `/pipeline` and
 * `/multi-exec` with a batch, replies as `{result}` / `{error}`. The official @upstash/redis
 * client was used here first; it is 78 KB of minified code of which this driver called one
 * method, and parsing it cost ~35 ms of every workerd cold start (bench/bundles.ts). The
 * contract suite checks this driver and the official client against the same REST server.
 */
export function createUpstashStore(opts: UpstashStoreOptions): Store {
  const timeoutMs = opts.timeoutMs ?? 3000
  const doFetch = opts.fetch ?? fetch
  const base = opts.url.replace(/\/$/, '')
  let state: StoreState = 'connecting'

  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      const result = await work()
      state = 'ready'
      return result
    } catch (e) {
      const message = errorMessage(e)
      if (e instanceof UpstashReplyError) {
        state = 'ready'
        throw new UpstashReplyError(message)
      }
      state = 'down'
      throw new StoreUnavailableError(`Redis (REST) is unavailable: ${message}`, { cause: e })
    }
  }

  const post = async (path: '' | 'pipeline' | 'multi-exec', body: unknown): Promise<{ res: Response; body: unknown }> => {
    const res = await doFetch(`${base}/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await res.text()
    try {
      return { res, body: JSON.parse(text) as unknown }
    } catch {
      throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`)
    }
  }

  /** A non-array answer is an error for the whole request: auth and server faults mean "unavailable". */
  const failure = (res: Response, body: unknown) => {
    const message = (body as { error?: string } | null)?.error ?? `HTTP ${res.status}`
    return res.status >= 500 || res.status === 401 ? new Error(message) : new UpstashReplyError(message)
  }

  const replyOf = (r: { result?: Reply; error?: string }): Reply => {
    if (r.error) throw new UpstashReplyError(r.error)
    return r.result ?? null
  }

  const batch = (path: 'pipeline' | 'multi-exec', cmds: readonly Command[]) =>
    guard(async () => {
      if (cmds.length === 0) return []
      const { res, body } = await post(path, cmds.map((c) => c.map(String)))
      if (!Array.isArray(body)) throw failure(res, body)
      return (body as { result?: Reply; error?: string }[]).map(replyOf)
    })

  const exec = (cmd: readonly RedisArg[]) =>
    guard(async () => {
      const { res, body } = await post('', cmd.map(String))
      const isReply = typeof body === 'object' && body !== null && !Array.isArray(body)
      if (!isReply || res.status >= 500 || res.status === 401) throw failure(res, body)
      return replyOf(body as { result?: Reply; error?: string })
    })

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
