import type { Reply } from '../types.ts'

/**
 * Redis streams for the memory driver: just what the outbox and its relay use
 * (XADD, XLEN, XRANGE, XDEL, XGROUP CREATE/DESTROY/DELCONSUMER, XREADGROUP, XACK,
 * XAUTOCLAIM, XPENDING, XINFO CONSUMERS). Replies match Redis 7 shape for shape; test/contract/memory-streams
 * runs the same script against both.
 */
export interface StreamId {
  ms: number
  seq: number
}
interface PendingEntry {
  consumer: string
  deliveredAt: number
  deliveries: number
}
interface Group {
  lastDelivered: StreamId
  /** Keyed by id string; iterate via `sortedPending`. */
  pending: Map<string, PendingEntry>
  consumers: Map<string, { seenAt: number }>
}
export interface MemoryStream {
  /** Entries in id order (XADD only appends larger ids). */
  entries: { id: StreamId; key: string; fields: string[] }[]
  lastId: StreamId
  groups: Map<string, Group>
}

type Handler = (args: string[]) => Reply

export interface StreamHelpers {
  typed(key: string): MemoryStream | undefined
  create(key: string): MemoryStream
  now(): number
  int(s: string | undefined): number
}

const idText = (id: StreamId) => `${id.ms}-${id.seq}`
const cmp = (a: StreamId, b: StreamId) => a.ms - b.ms || a.seq - b.seq
const ZERO: StreamId = { ms: 0, seq: 0 }
const MAX: StreamId = { ms: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER }

function parseId(s: string, missingSeq: 0 | 'max' = 0): StreamId {
  if (s === '-') return ZERO
  if (s === '+') return MAX
  const m = /^(\d+)(?:-(\d+))?$/.exec(s)
  if (!m) throw new Error('ERR Invalid stream ID specified as stream command argument')
  return { ms: Number(m[1]), seq: m[2] !== undefined ? Number(m[2]) : missingSeq === 'max' ? MAX.seq : 0 }
}
const next = (id: StreamId): StreamId => (id.seq === MAX.seq ? { ms: id.ms + 1, seq: 0 } : { ms: id.ms, seq: id.seq + 1 })
const prev = (id: StreamId): StreamId => (id.seq === 0 ? { ms: id.ms - 1, seq: MAX.seq } : { ms: id.ms, seq: id.seq - 1 })

/** `start`/`end` of XRANGE and XPENDING, with the `(` exclusive prefix. */
function rangeBound(s: string, side: 'start' | 'end'): StreamId {
  if (s.startsWith('(')) {
    const id = parseId(s.slice(1), side === 'start' ? 0 : 'max')
    return side === 'start' ? next(id) : prev(id)
  }
  return parseId(s, side === 'start' ? 0 : 'max')
}

export function createStreamCommands(h: StreamHelpers): Record<string, Handler> {
  const find = (s: MemoryStream, id: StreamId) => {
    // Binary search: entries are sorted by id.
    let lo = 0
    let hi = s.entries.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const c = cmp(s.entries[mid]!.id, id)
      if (c === 0) return mid
      if (c < 0) lo = mid + 1
      else hi = mid - 1
    }
    return -lo - 1
  }
  const firstAtOrAfter = (s: MemoryStream, id: StreamId) => {
    const i = find(s, id)
    return i >= 0 ? i : -i - 1
  }
  const entryReply = (e: { key: string; fields: string[] }): Reply => [e.key, [...e.fields]]
  const group = (key: string, name: string, cmd: string): { s: MemoryStream; g: Group } => {
    const s = h.typed(key)
    const g = s?.groups.get(name)
    if (!s || !g) throw new Error(`NOGROUP No such key '${key}' or consumer group '${name}'${cmd ? ` in ${cmd} command` : ''}`)
    return { s, g }
  }
  /** Redis 7.0 refreshes a known consumer's idle time on every read or claim, but creates one only when it is given an entry. */
  const touchConsumer = (g: Group, name: string, delivered: boolean) => {
    const c = g.consumers.get(name)
    if (c) c.seenAt = h.now()
    else if (delivered) g.consumers.set(name, { seenAt: h.now() })
  }
  const sortedPending = (g: Group) => [...g.pending.entries()].map(([k, p]) => ({ id: parseId(k), p })).sort((a, b) => cmp(a.id, b.id))

  return {
    XADD: ([key, ...rest]) => {
      let i = 0
      let nomkstream = false
      let maxlen: number | undefined
      while (i < rest.length) {
        const o = rest[i]!.toUpperCase()
        if (o === 'NOMKSTREAM') (nomkstream = true), i++
        else if (o === 'MAXLEN') {
          i++
          if (rest[i] === '=' || rest[i] === '~') i++
          maxlen = h.int(rest[i++])
        } else break
      }
      const idArg = rest[i++]
      const fields = rest.slice(i)
      if (idArg === undefined || fields.length === 0 || fields.length % 2 !== 0) throw new Error("ERR wrong number of arguments for 'xadd' command")
      const existing = h.typed(key!)
      if (!existing && nomkstream) return null
      const s = existing ?? h.create(key!)
      let id: StreamId
      if (idArg === '*') {
        const ms = h.now()
        id = ms > s.lastId.ms ? { ms, seq: 0 } : { ms: s.lastId.ms, seq: s.lastId.seq + 1 }
      } else {
        id = parseId(idArg)
        if (cmp(id, s.lastId) <= 0) throw new Error('ERR The ID specified in XADD is equal or smaller than the target stream top item')
      }
      s.lastId = id
      s.entries.push({ id, key: idText(id), fields })
      if (maxlen !== undefined && s.entries.length > maxlen) s.entries.splice(0, s.entries.length - maxlen)
      return idText(id)
    },
    XLEN: ([key]) => h.typed(key!)?.entries.length ?? 0,
    XRANGE: ([key, start, end, ...opts]) => {
      const s = h.typed(key!)
      let count = Infinity
      if (opts.length) {
        if (opts[0]!.toUpperCase() !== 'COUNT' || opts.length !== 2) throw new Error('ERR syntax error')
        count = h.int(opts[1])
      }
      if (!s) return []
      const lo = rangeBound(start!, 'start')
      const hi = rangeBound(end!, 'end')
      const out: Reply[] = []
      for (let i = firstAtOrAfter(s, lo); i < s.entries.length && out.length < count; i++) {
        const e = s.entries[i]!
        if (cmp(e.id, hi) > 0) break
        out.push(entryReply(e))
      }
      return out
    },
    XDEL: ([key, ...ids]) => {
      const s = h.typed(key!)
      if (!s) return 0
      let n = 0
      for (const raw of ids) {
        const i = find(s, parseId(raw))
        if (i >= 0) (s.entries.splice(i, 1), n++)
      }
      return n
    },
    XGROUP: ([sub, key, name, arg, ...opts]) => {
      const op = sub?.toUpperCase()
      if (op === 'CREATE') {
        let s = h.typed(key!)
        if (!s) {
          if (!opts.some((o) => o.toUpperCase() === 'MKSTREAM'))
            throw new Error('ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.')
          s = h.create(key!)
        }
        if (s.groups.has(name!)) throw new Error('BUSYGROUP Consumer Group name already exists')
        s.groups.set(name!, { lastDelivered: arg === '$' ? s.lastId : parseId(arg!), pending: new Map(), consumers: new Map() })
        return 'OK'
      }
      if (op === 'DESTROY') return h.typed(key!)?.groups.delete(name!) ? 1 : 0
      if (op === 'DELCONSUMER') {
        const { g } = group(key!, name!, '')
        let n = 0
        for (const [id, p] of [...g.pending]) if (p.consumer === arg) (g.pending.delete(id), n++)
        g.consumers.delete(arg!)
        return n
      }
      throw new Error(`ERR unknown subcommand '${sub}' (memory store)`)
    },
    XREADGROUP: (args) => {
      if (args[0]?.toUpperCase() !== 'GROUP') throw new Error('ERR syntax error')
      const [, groupName, consumer, ...rest] = args
      let count = Infinity
      let noack = false
      let i = 0
      for (; i < rest.length; i++) {
        const o = rest[i]!.toUpperCase()
        if (o === 'COUNT') count = h.int(rest[++i])
        else if (o === 'BLOCK') i++ // nothing else runs while we would wait, so never block
        else if (o === 'NOACK') noack = true
        else if (o === 'STREAMS') break
        else throw new Error('ERR syntax error')
      }
      const [key, from, ...more] = rest.slice(i + 1)
      if (key === undefined || from === undefined || more.length) throw new Error('ERR the memory store supports XREADGROUP on exactly one stream')
      const { s, g } = group(key, groupName!, 'XREADGROUP')
      if (from === '>') {
        const out: Reply[] = []
        for (let j = firstAtOrAfter(s, next(g.lastDelivered)); j < s.entries.length && out.length < count; j++) {
          const e = s.entries[j]!
          g.lastDelivered = e.id
          if (!noack) g.pending.set(e.key, { consumer: consumer!, deliveredAt: h.now(), deliveries: 1 })
          out.push(entryReply(e))
        }
        touchConsumer(g, consumer!, out.length > 0)
        return out.length ? [[key, out]] : null
      }
      touchConsumer(g, consumer!, false)
      // History: this consumer's pending entries after `from`; deleted ones come back as [id, nil].
      const after = parseId(from)
      const out: Reply[] = []
      for (const { id, p } of sortedPending(g)) {
        if (out.length >= count) break
        if (p.consumer !== consumer || cmp(id, after) <= 0) continue
        p.deliveredAt = h.now()
        p.deliveries++
        const at = find(s, id)
        out.push(at >= 0 ? entryReply(s.entries[at]!) : [idText(id), null])
      }
      return [[key, out]]
    },
    XINFO: ([sub, key, groupName]) => {
      if (sub?.toUpperCase() !== 'CONSUMERS') throw new Error(`ERR unknown subcommand '${sub}' (memory store)`)
      const { g } = group(key!, groupName!, '')
      const names = [...g.consumers.keys()].sort()
      // Redis 7.0 shape: name, pending, idle (ms since last read or claim).
      return names.map((name) => ['name', name, 'pending', [...g.pending.values()].filter((p) => p.consumer === name).length, 'idle', h.now() - g.consumers.get(name)!.seenAt])
    },
    XACK: ([key, groupName, ...ids]) => {
      const g = h.typed(key!)?.groups.get(groupName!)
      if (!g) return 0
      return ids.filter((raw) => g.pending.delete(idText(parseId(raw)))).length
    },
    XAUTOCLAIM: ([key, groupName, consumer, minIdle, start, ...opts]) => {
      let count = 100
      let justId = false
      for (let i = 0; i < opts.length; i++) {
        const o = opts[i]!.toUpperCase()
        if (o === 'COUNT') count = h.int(opts[++i])
        else if (o === 'JUSTID') justId = true
        else throw new Error('ERR syntax error')
      }
      const { s, g } = group(key!, groupName!, 'XAUTOCLAIM')
      const idle = h.int(minIdle)
      const from = rangeBound(start!, 'start')
      const candidates = sortedPending(g).filter((x) => cmp(x.id, from) >= 0)
      // Redis examines at most COUNT*10 entries per call and counts deleted ones against COUNT.
      let attempts = count * 10
      let j = 0
      const claimed: Reply[] = []
      const deleted: string[] = []
      for (; j < candidates.length && attempts > 0 && count > 0; j++, attempts--) {
        const { id, p } = candidates[j]!
        const text = idText(id)
        const at = find(s, id)
        if (at < 0) {
          g.pending.delete(text)
          deleted.push(text)
          count--
          continue
        }
        if (h.now() - p.deliveredAt < idle) continue
        p.consumer = consumer!
        p.deliveredAt = h.now()
        if (!justId) p.deliveries++
        claimed.push(justId ? text : entryReply(s.entries[at]!))
        count--
      }
      touchConsumer(g, consumer!, claimed.length > 0)
      const cursor = j < candidates.length ? idText(candidates[j]!.id) : '0-0'
      return [cursor, claimed, deleted]
    },
    XPENDING: ([key, groupName, ...rest]) => {
      const { g } = group(key!, groupName!, 'XPENDING')
      const all = sortedPending(g)
      if (rest.length === 0) {
        if (all.length === 0) return [0, null, null, null]
        const perConsumer = new Map<string, number>()
        for (const { p } of all) perConsumer.set(p.consumer, (perConsumer.get(p.consumer) ?? 0) + 1)
        const consumers = [...perConsumer.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        return [all.length, idText(all[0]!.id), idText(all[all.length - 1]!.id), consumers.map(([c, n]) => [c, String(n)])]
      }
      let minIdle = 0
      if (rest[0]!.toUpperCase() === 'IDLE') {
        minIdle = h.int(rest[1])
        rest = rest.slice(2)
      }
      const [start, end, countArg, consumer] = rest
      const lo = rangeBound(start!, 'start')
      const hi = rangeBound(end!, 'end')
      const count = h.int(countArg)
      const out: Reply[] = []
      for (const { id, p } of all) {
        if (out.length >= count) break
        if (cmp(id, lo) < 0 || cmp(id, hi) > 0) continue
        if (consumer !== undefined && p.consumer !== consumer) continue
        const idleMs = h.now() - p.deliveredAt
        if (idleMs < minIdle) continue
        out.push([idText(id), p.consumer, idleMs, p.deliveries])
      }
      return out
    },
  }
}
