import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'

/**
 * An HTTP micro-cache in front of the Node server, for GET routes whose function declares
 * `cacheable` (health reads). A hit is answered from memory without entering the framework;
 * the function-level read cache already lets the data be up to the same age, so a hit is
 * exactly what the app would have answered. Requests that carry credentials are never
 * served from or stored in it, so no response crosses principals.
 */
export interface MicroCache {
  /** Answers from the cache; false when the request must go to the app. */
  tryServe(req: IncomingMessage, res: ServerResponse): boolean
  /** Stores a 200 answer to a cacheable GET (called on a miss). */
  store(request: Request, response: Response): Promise<void>
}

interface Entry {
  at: number
  headers: OutgoingHttpHeaders
  body: Buffer
}

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/

export function createMicroCache(opts: { ttlMs: number; paths: ReadonlySet<string>; now?: () => number; maxEntries?: number }): MicroCache {
  const now = opts.now ?? Date.now
  const max = opts.maxEntries ?? 1000
  const entries = new Map<string, Entry>()
  const pathOf = (url: string) => {
    const q = url.indexOf('?')
    return q < 0 ? url : url.slice(0, q)
  }
  const eligible = (method: string | undefined, url: string, hasCredentials: boolean) =>
    opts.ttlMs > 0 && method === 'GET' && !hasCredentials && opts.paths.has(pathOf(url))

  return {
    tryServe(req, res) {
      const url = req.url ?? '/'
      if (!eligible(req.method, url, req.headers.authorization !== undefined || req.headers.cookie !== undefined)) return false
      const hit = entries.get(url)
      if (!hit || now() - hit.at >= opts.ttlMs) return false
      const incoming = req.headers['x-request-id']
      const id = typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : crypto.randomUUID()
      res.writeHead(200, { ...hit.headers, 'x-request-id': id, 'x-orchestrator-cache': 'hit' })
      res.end(hit.body)
      return true
    },
    async store(request, response) {
      if (response.status !== 200 || request.method !== 'GET') return
      const full = request.url
      const key = full.slice(full.indexOf('/', full.indexOf('//') + 2))
      if (!eligible(request.method, key, request.headers.has('authorization') || request.headers.has('cookie'))) return
      const body = Buffer.from(await response.clone().arrayBuffer())
      if (entries.size >= max) entries.clear()
      entries.set(key, {
        at: now(),
        headers: { 'content-type': response.headers.get('content-type') ?? 'application/json', 'content-length': body.length },
        body,
      })
    },
  }
}
