import type { Command, Reply } from '../types.ts'
import { createStreamCommands, type MemoryStream } from './memory-streams.ts'

interface ValueTypes {
  string: string
  hash: Map<string, string>
  set: Set<string>
  zset: Map<string, number>
  list: string[]
  stream: MemoryStream
}
type Value = { [T in keyof ValueTypes]: { type: T; value: ValueTypes[T] } }[keyof ValueTypes]

export type MemoryData = Map<string, { v: Value; expireAt?: number }>

type Handler = (args: string[]) => Reply

const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value'

function globToRegExp(glob: string): RegExp {
  let re = ''
  for (const ch of glob) {
    if (ch === '*') re += '.*'
    else if (ch === '?') re += '.'
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

function parseScoreBound(s: string): { value: number; exclusive: boolean } {
  const exclusive = s.startsWith('(')
  const raw = exclusive ? s.slice(1) : s
  const value = raw === '-inf' ? -Infinity : raw === '+inf' || raw === 'inf' ? Infinity : Number(raw)
  if (Number.isNaN(value)) throw new Error('ERR min or max is not a float')
  return { value, exclusive }
}

const formatScore = (n: number) => (Number.isInteger(n) ? String(n) : String(n))

/** Builds the command table over one keyspace. Returns a runner with a `supports` check. */
export function createMemoryCommands(data: MemoryData, now: () => number) {
  const live = (key: string) => {
    const e = data.get(key)
    if (!e) return undefined
    if (e.expireAt !== undefined && e.expireAt <= now()) {
      data.delete(key)
      return undefined
    }
    return e
  }
  function typed<T extends keyof ValueTypes>(key: string, type: T): ValueTypes[T] | undefined {
    const e = live(key)
    if (!e) return undefined
    if (e.v.type !== type) throw new Error(WRONGTYPE)
    return e.v.value as ValueTypes[T]
  }
  function ensure<T extends keyof ValueTypes>(key: string, type: T, make: () => ValueTypes[T]) {
    const existing = typed(key, type)
    if (existing !== undefined) return existing
    const value = make()
    data.set(key, { v: { type, value } as Value })
    return value
  }
  const dropIfEmpty = (key: string, size: number) => {
    if (size === 0) data.delete(key)
  }
  const int = (s: string | undefined) => {
    const n = Number(s)
    if (s === undefined || !Number.isInteger(n)) throw new Error('ERR value is not an integer or out of range')
    return n
  }
  const zsorted = (z: Map<string, number>) =>
    [...z.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))

  const incrBy = (key: string, by: number) => {
    const cur = typed(key, 'string')
    const n = cur === undefined ? 0 : Number(cur)
    if (!Number.isInteger(n)) throw new Error('ERR value is not an integer or out of range')
    const next = n + by
    const e = live(key)
    data.set(key, { v: { type: 'string', value: String(next) }, expireAt: e?.expireAt })
    return next
  }

  const table: Record<string, Handler> = {
    PING: () => 'PONG',
    GET: ([k]) => typed(k!, 'string') ?? null,
    SET: ([k, value, ...opts]) => {
      let nx = false
      let xx = false
      let expireAt: number | undefined
      let keepTtl = false
      for (let i = 0; i < opts.length; i++) {
        const o = opts[i]!.toUpperCase()
        if (o === 'NX') nx = true
        else if (o === 'XX') xx = true
        else if (o === 'EX') expireAt = now() + int(opts[++i]) * 1000
        else if (o === 'PX') expireAt = now() + int(opts[++i])
        else if (o === 'KEEPTTL') keepTtl = true
        else throw new Error('ERR syntax error')
      }
      const existing = live(k!)
      if ((nx && existing) || (xx && !existing)) return null
      data.set(k!, { v: { type: 'string', value: value! }, expireAt: keepTtl ? existing?.expireAt : expireAt })
      return 'OK'
    },
    MGET: (keys) => keys.map((k) => {
      const e = live(k)
      return e && e.v.type === 'string' ? e.v.value : null
    }),
    DEL: (keys) => keys.filter((k) => live(k) && data.delete(k)).length,
    EXISTS: (keys) => keys.filter((k) => live(k)).length,
    INCR: ([k]) => incrBy(k!, 1),
    INCRBY: ([k, by]) => incrBy(k!, int(by)),
    EXPIRE: ([k, s]) => {
      const e = live(k!)
      if (!e) return 0
      e.expireAt = now() + int(s) * 1000
      return 1
    },
    PEXPIRE: ([k, ms]) => {
      const e = live(k!)
      if (!e) return 0
      e.expireAt = now() + int(ms)
      return 1
    },
    PTTL: ([k]) => {
      const e = live(k!)
      if (!e) return -2
      return e.expireAt === undefined ? -1 : Math.max(0, e.expireAt - now())
    },
    TTL: ([k]) => {
      const e = live(k!)
      if (!e) return -2
      return e.expireAt === undefined ? -1 : Math.max(0, Math.round((e.expireAt - now()) / 1000))
    },
    HSET: ([k, ...fv]) => {
      if (fv.length === 0 || fv.length % 2 !== 0) throw new Error("ERR wrong number of arguments for 'hset' command")
      const h = ensure(k!, 'hash', () => new Map())
      let added = 0
      for (let i = 0; i < fv.length; i += 2) {
        if (!h.has(fv[i]!)) added++
        h.set(fv[i]!, fv[i + 1]!)
      }
      return added
    },
    HSETNX: ([k, f, value]) => {
      const h = ensure(k!, 'hash', () => new Map())
      if (h.has(f!)) return 0
      h.set(f!, value!)
      return 1
    },
    HGET: ([k, f]) => typed(k!, 'hash')?.get(f!) ?? null,
    HMGET: ([k, ...fs]) => {
      const h = typed(k!, 'hash')
      return fs.map((f) => h?.get(f) ?? null)
    },
    HGETALL: ([k]) => [...(typed(k!, 'hash') ?? new Map()).entries()].flat(),
    HDEL: ([k, ...fs]) => {
      const h = typed(k!, 'hash')
      if (!h) return 0
      const n = fs.filter((f) => h.delete(f)).length
      dropIfEmpty(k!, h.size)
      return n
    },
    HLEN: ([k]) => typed(k!, 'hash')?.size ?? 0,
    HINCRBY: ([k, f, by]) => {
      const h = ensure(k!, 'hash', () => new Map())
      const next = int(h.get(f!) ?? '0') + int(by)
      h.set(f!, String(next))
      return next
    },
    HEXISTS: ([k, f]) => (typed(k!, 'hash')?.has(f!) ? 1 : 0),
    SADD: ([k, ...ms]) => {
      const s = ensure(k!, 'set', () => new Set())
      let added = 0
      for (const m of ms) if (!s.has(m)) (s.add(m), added++)
      return added
    },
    SREM: ([k, ...ms]) => {
      const s = typed(k!, 'set')
      if (!s) return 0
      const n = ms.filter((m) => s.delete(m)).length
      dropIfEmpty(k!, s.size)
      return n
    },
    SMEMBERS: ([k]) => [...(typed(k!, 'set') ?? [])].sort(),
    SCARD: ([k]) => typed(k!, 'set')?.size ?? 0,
    SISMEMBER: ([k, m]) => (typed(k!, 'set')?.has(m!) ? 1 : 0),
    ZADD: ([k, ...rest]) => {
      let gt = false
      let nx = false
      while (rest[0] && ['GT', 'NX', 'XX', 'LT', 'CH'].includes(rest[0].toUpperCase())) {
        const flag = rest.shift()!.toUpperCase()
        if (flag === 'GT') gt = true
        if (flag === 'NX') nx = true
      }
      if (rest.length === 0 || rest.length % 2 !== 0) throw new Error('ERR syntax error')
      const z = ensure(k!, 'zset', () => new Map())
      let added = 0
      for (let i = 0; i < rest.length; i += 2) {
        const score = Number(rest[i])
        if (Number.isNaN(score)) throw new Error('ERR value is not a valid float')
        const m = rest[i + 1]!
        const cur = z.get(m)
        if (cur === undefined) added++
        if (cur === undefined || (!nx && (!gt || score > cur))) z.set(m, score)
      }
      return added
    },
    ZREM: ([k, ...ms]) => {
      const z = typed(k!, 'zset')
      if (!z) return 0
      const n = ms.filter((m) => z.delete(m)).length
      dropIfEmpty(k!, z.size)
      return n
    },
    ZSCORE: ([k, m]) => {
      const s = typed(k!, 'zset')?.get(m!)
      return s === undefined ? null : formatScore(s)
    },
    ZMSCORE: ([k, ...ms]) => {
      const z = typed(k!, 'zset')
      return ms.map((m) => {
        const s = z?.get(m)
        return s === undefined ? null : formatScore(s)
      })
    },
    ZCARD: ([k]) => typed(k!, 'zset')?.size ?? 0,
    ZRANGE: ([k, start, stop, ...opts]) => {
      const sorted = zsorted(typed(k!, 'zset') ?? new Map())
      const len = sorted.length
      let s = int(start)
      let e = int(stop)
      if (s < 0) s = Math.max(0, len + s)
      if (e < 0) e = len + e
      const slice = sorted.slice(s, e + 1)
      const withScores = opts.some((o) => o.toUpperCase() === 'WITHSCORES')
      return withScores ? slice.flatMap(([m, sc]) => [m, formatScore(sc)]) : slice.map(([m]) => m)
    },
    ZRANGEBYSCORE: ([k, min, max, ...opts]) => {
      const lo = parseScoreBound(min!)
      const hi = parseScoreBound(max!)
      let withScores = false
      let offset = 0
      let count = -1
      for (let i = 0; i < opts.length; i++) {
        const o = opts[i]!.toUpperCase()
        if (o === 'WITHSCORES') withScores = true
        else if (o === 'LIMIT') (offset = int(opts[++i])), (count = int(opts[++i]))
        else throw new Error('ERR syntax error')
      }
      const inRange = zsorted(typed(k!, 'zset') ?? new Map()).filter(
        ([, sc]) =>
          (lo.exclusive ? sc > lo.value : sc >= lo.value) && (hi.exclusive ? sc < hi.value : sc <= hi.value),
      )
      const slice = inRange.slice(offset, count < 0 ? undefined : offset + count)
      return withScores ? slice.flatMap(([m, sc]) => [m, formatScore(sc)]) : slice.map(([m]) => m)
    },
    ZREMRANGEBYSCORE: ([k, min, max]) => {
      const z = typed(k!, 'zset')
      if (!z) return 0
      const lo = parseScoreBound(min!)
      const hi = parseScoreBound(max!)
      let n = 0
      for (const [m, sc] of [...z.entries()]) {
        if ((lo.exclusive ? sc > lo.value : sc >= lo.value) && (hi.exclusive ? sc < hi.value : sc <= hi.value)) {
          z.delete(m)
          n++
        }
      }
      dropIfEmpty(k!, z.size)
      return n
    },
    LPUSH: ([k, ...vs]) => {
      const l = ensure(k!, 'list', () => [])
      for (const x of vs) l.unshift(x)
      return l.length
    },
    RPUSH: ([k, ...vs]) => {
      const l = ensure(k!, 'list', () => [])
      l.push(...vs)
      return l.length
    },
    LRANGE: ([k, start, stop]) => {
      const l = typed(k!, 'list') ?? []
      let s = int(start)
      let e = int(stop)
      if (s < 0) s = Math.max(0, l.length + s)
      if (e < 0) e = l.length + e
      return l.slice(s, e + 1)
    },
    LTRIM: ([k, start, stop]) => {
      const l = typed(k!, 'list')
      if (!l) return 'OK'
      let s = int(start)
      let e = int(stop)
      if (s < 0) s = Math.max(0, l.length + s)
      if (e < 0) e = l.length + e
      const kept = l.slice(s, e + 1)
      l.splice(0, l.length, ...kept)
      dropIfEmpty(k!, l.length)
      return 'OK'
    },
    LLEN: ([k]) => typed(k!, 'list')?.length ?? 0,
    SCAN: ([cursor, ...opts]) => {
      let match: RegExp | undefined
      let count = 10
      for (let i = 0; i < opts.length; i++) {
        const o = opts[i]!.toUpperCase()
        if (o === 'MATCH') match = globToRegExp(opts[++i]!)
        else if (o === 'COUNT') count = int(opts[++i])
        else if (o === 'TYPE') i++
        else throw new Error('ERR syntax error')
      }
      // Insertion order is stable in a Map, so a numeric offset is a valid cursor.
      const all = [...data.keys()]
      const start = int(cursor)
      const slice = all.slice(start, start + count)
      const next = start + count >= all.length ? 0 : start + count
      return [String(next), slice.filter((k) => live(k) && (!match || match.test(k)))]
    },
    FLUSHALL: () => (data.clear(), 'OK'),
    ...createStreamCommands({
      typed: (key) => typed(key, 'stream'),
      create: (key) => ensure(key, 'stream', () => ({ entries: [], lastId: { ms: 0, seq: 0 }, groups: new Map() })),
      now,
      int,
    }),
  }

  const run = (cmd: Command): Reply => {
    const handler = table[cmd[0].toUpperCase()]
    if (!handler) throw new Error(`ERR unknown command '${cmd[0]}' (memory store)`)
    return handler(cmd.slice(1).map(String))
  }
  return Object.assign(run, {
    supports: (name: string) => name.toUpperCase() in table,
    /** Lets later modules (streams for the outbox) extend the table. */
    extend: (name: string, handler: Handler) => {
      table[name.toUpperCase()] = handler
    },
  })
}
