import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import { parseRedisConnection } from '../shared/store/drivers/ioredis.ts'
import { errorMessage } from '../shared/errors.ts'

/**
 * A small server speaking the Upstash Redis REST protocol in front of a real Redis, so the
 * REST driver (and edge bundles in workerd) can be run and tested locally:
 *   POST /               body ["CMD", ...args]           -> {"result": …} | {"error": …}
 *   POST /pipeline       body [["CMD", …], …]            -> [{"result"}|{"error"}, …]
 *   POST /multi-exec     body [["CMD", …], …] (MULTI)    -> same shape, atomic
 *   GET|POST /cmd/arg/…  path form
 * Bearer token auth; `Upstash-Encoding: base64` encodes every string reply except a top-level "OK",
 * exactly as the @upstash/redis client decodes it.
 */
export interface UpstashProxy {
  url: string
  port: number
  close(): Promise<void>
}

type Reply = string | number | null | Reply[]

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')
const encodeNested = (r: Reply): Reply => (typeof r === 'string' ? b64(r) : Array.isArray(r) ? r.map(encodeNested) : r)

/** The client leaves a top-level "OK" as is (a status reply) and decodes every other string. */
const encodeReply = (r: Reply, base64: boolean): Reply => {
  if (!base64) return r
  if (typeof r === 'string') return r === 'OK' ? r : b64(r)
  return encodeNested(r)
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function send(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

const isCommand = (x: unknown): x is (string | number)[] =>
  Array.isArray(x) && x.length > 0 && x.every((a) => typeof a === 'string' || typeof a === 'number' || typeof a === 'boolean')

export async function startUpstashProxy(opts: { redis: string; token: string; port?: number; host?: string }): Promise<UpstashProxy> {
  const { url, ...parsed } = parseRedisConnection(opts.redis)
  const redisOptions = { ...parsed, maxRetriesPerRequest: 1, enableOfflineQueue: true }
  const redis = url ? new Redis(url, redisOptions) : new Redis(redisOptions)
  // ioredis reshapes some replies by lower-case command name (hgetall -> object); upper case keeps Redis's own reply.
  const name = (cmd: (string | number)[]) => String(cmd[0]).toUpperCase()
  const run = async (cmd: (string | number)[]) => (await redis.call(name(cmd), ...cmd.slice(1).map(String))) as Reply

  const batch = async (cmds: (string | number)[][], multi: boolean, base64: boolean) => {
    const p = multi ? redis.multi() : redis.pipeline()
    for (const c of cmds) p.call(name(c), ...c.slice(1).map(String))
    const results = (await p.exec()) as [Error | null, Reply][] | null
    if (!results) throw new Error('EXECABORT Transaction discarded')
    return results.map(([err, value]) => (err ? { error: err.message } : { result: encodeReply(value, base64) }))
  }

  const server = createServer(async (req, res) => {
    try {
      if ((req.headers.authorization ?? '') !== `Bearer ${opts.token}`) return send(res, 401, { error: 'Unauthorized' })
      const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64'
      const path = (req.url ?? '/').split('?')[0]!
      const raw = req.method === 'POST' ? await readBody(req) : ''
      let body: unknown = undefined
      if (raw.trim()) {
        try {
          body = JSON.parse(raw)
        } catch {
          return send(res, 400, { error: 'ERR failed to parse request body as JSON' })
        }
      }
      if (path === '/pipeline' || path === '/multi-exec') {
        if (!Array.isArray(body) || !body.every(isCommand)) return send(res, 400, { error: 'ERR body must be an array of commands' })
        return send(res, 200, await batch(body, path === '/multi-exec', base64))
      }
      const segments = path.split('/').filter(Boolean).map(decodeURIComponent)
      const cmd = path === '/' ? body : [...segments, ...(raw.trim() && !isCommand(body) ? [raw] : [])]
      if (!isCommand(cmd)) return send(res, 400, { error: 'ERR body must be a command array like ["GET","key"]' })
      try {
        return send(res, 200, { result: encodeReply(await run(cmd), base64) })
      } catch (e) {
        const message = errorMessage(e)
        return send(res, e instanceof Error && e.name === 'ReplyError' ? 400 : 500, { error: message })
      }
    } catch (e) {
      send(res, 500, { error: errorMessage(e) })
    }
  })
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      redis.disconnect()
    },
  }
}
