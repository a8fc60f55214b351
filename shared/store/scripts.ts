import type { Command, Reply, Script } from './types.ts'

/** Delete a key only while it still holds our token (lease release). */
export const compareAndDelete: Script = {
  name: 'compare-and-delete',
  lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`,
  local: (run, [key], [token]) => (run(['GET', key!]) === token ? run(['DEL', key!]) : 0),
}

/** Extend a key's expiry only while it still holds our token (lease renewal). */
export const compareAndExpire: Script = {
  name: 'compare-and-expire',
  lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`,
  local: (run, [key], [token, ttlMs]) => (run(['GET', key!]) === token ? run(['PEXPIRE', key!, ttlMs!]) : 0),
}

/**
 * Take a lease and draw its fencing number in one step: SET NX PX, and only when that
 * succeeded INCR the fence counter. Returns the new fence, or 0 when someone else holds it.
 * KEYS: lease, fence. ARGV: token, ttlMs.
 */
export const acquireLease: Script = {
  name: 'acquire-lease',
  lua: `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[2]) else return 0 end`,
  local: (run, [lease, fence], [token, ttlMs]) => (run(['SET', lease!, token!, 'NX', 'PX', ttlMs!]) === 'OK' ? run(['INCR', fence!]) : 0),
}

/**
 * One guarded change: every guard command must reply exactly `expected` (checked in order,
 * stopping at the first miss); only then do the `then` commands run. Empty guards = always.
 */
export interface GuardedChange {
  guards: { cmd: string[]; expected: number }[]
  then: string[][]
}

/**
 * Lua preamble of every fenced script: refuses the whole call (-1) when the fencing counter
 * (the given key, KEYS[fenceKeyIndex]) has moved past the caller's fence (ARGV[1]), i.e. a
 * newer leader exists. Used only when the key is passed; `fencedOutLocal` is its JS twin.
 */
export const fenceGuardLua = (fenceKeyIndex: number) => `
if #KEYS >= ${fenceKeyIndex} then
  local stored = tonumber(redis.call('GET', KEYS[${fenceKeyIndex}]) or '0')
  if stored > tonumber(ARGV[1]) then return -1 end
end`

export const fencedOutLocal = (run: (cmd: Command) => Reply, fenceKey: string | undefined, fence: string | undefined) =>
  fenceKey !== undefined && Number(run(['GET', fenceKey]) ?? 0) > Number(fence)

/** Lua that appends an outbox entry whose six fields start at ARGV[first] (see outboxFields). */
export const outboxXaddLua = (streamKey: string, first: string) =>
  `redis.call('XADD', ${streamKey}, '*', 'kind', ARGV[${first}], 'exchange', ARGV[${first} + 1], 'routingKey', ARGV[${first} + 2], 'eventId', ARGV[${first} + 3], 'emittedAt', ARGV[${first} + 4], 'payload', ARGV[${first} + 5])`

const OUTBOX_FIELDS = ['kind', 'exchange', 'routingKey', 'eventId', 'emittedAt', 'payload'] as const

/**
 * A fenced script that decides item by item and appends each accepted item's event to the
 * outbox in the same atomic step. KEYS: [state key], outbox, [fence]; ARGV: fence, `head`
 * more arguments, then per item `stride` arguments whose last six are the outbox fields.
 * `lua` is the per-item body: it reads ARGV[i] onwards and sets `ok`; `local` is its JS twin
 * for the memory store, given the item's arguments without the outbox fields.
 * Replies -1 when fenced out, else one 1/0 per item.
 */
export function fencedItemsWithOutbox(spec: {
  name: string
  head: number
  stride: number
  lua: string
  local: (run: (cmd: Command) => Reply, keys: string[], head: string[], item: string[]) => boolean
}): Script {
  const first = 2 + spec.head
  return {
    name: spec.name,
    lua: `${fenceGuardLua(3)}
local out = {}
for i = ${first}, #ARGV, ${spec.stride} do
  local ok = false
${spec.lua}
  if ok then
    ${outboxXaddLua('KEYS[2]', `i + ${spec.stride - OUTBOX_FIELDS.length}`)}
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out`,
    local: (run, keys, [fence, ...args]) => {
      if (fencedOutLocal(run, keys[2], fence)) return -1
      const head = args.slice(0, spec.head)
      const out: number[] = []
      for (let i = spec.head; i < args.length; i += spec.stride) {
        const item = args.slice(i, i + spec.stride)
        const fields = item.slice(spec.stride - OUTBOX_FIELDS.length)
        const ok = spec.local(run, keys, head, item.slice(0, spec.stride - OUTBOX_FIELDS.length))
        if (ok) run(['XADD', keys[1]!, '*', ...OUTBOX_FIELDS.flatMap((f, j) => [f, fields[j]!])])
        out.push(ok ? 1 : 0)
      }
      return out
    },
  }
}

/**
 * Applies guarded changes atomically, refusing the whole batch when a fence is given and the
 * stored fence counter is higher (a newer leader exists: this caller is stale).
 * KEYS: [fenceKey] or []. ARGV: fence, then per change, flat (no JSON to encode or decode,
 * so event payloads travel unescaped):
 *   guard count, per guard: expected reply, argument count, command...;
 *   command count, per command: argument count, command...
 * Replies -1 when refused, else one 1/0 per change (applied or guarded out).
 * The commands name keys that are not declared in KEYS: fine on a single Redis (and Upstash),
 * not on Redis Cluster, which this orchestrator does not target.
 */
export const guardedApply: Script = {
  name: 'guarded-apply',
  lua: `${fenceGuardLua(1)}
local a = ARGV
local n = #a
local p = 2
local out = {}
while p <= n do
  local ok = 1
  local guards = tonumber(a[p])
  p = p + 1
  for _ = 1, guards do
    local expected, len = tonumber(a[p]), tonumber(a[p + 1])
    if ok == 1 and redis.call(unpack(a, p + 2, p + 1 + len)) ~= expected then ok = 0 end
    p = p + 2 + len
  end
  local cmds = tonumber(a[p])
  p = p + 1
  for _ = 1, cmds do
    local len = tonumber(a[p])
    if ok == 1 then redis.call(unpack(a, p + 1, p + len)) end
    p = p + 1 + len
  end
  out[#out + 1] = ok
end
return out`,
  local: (run, keys, [fence, ...a]) => {
    if (fencedOutLocal(run, keys[0], fence)) return -1
    const out: number[] = []
    const command = (from: number, len: number) => a.slice(from, from + len) as unknown as Command
    for (let p = 0; p < a.length; ) {
      let ok = 1
      const guards = Number(a[p++])
      for (let g = 0; g < guards; g++) {
        const expected = Number(a[p])
        const len = Number(a[p + 1])
        if (ok === 1 && run(command(p + 2, len)) !== expected) ok = 0
        p += 2 + len
      }
      const cmds = Number(a[p++])
      for (let c = 0; c < cmds; c++) {
        const len = Number(a[p])
        if (ok === 1) run(command(p + 1, len))
        p += 1 + len
      }
      out.push(ok)
    }
    return out
  },
}

/** Encodes one change for guardedApply onto `out`; every argument a string so Lua never reformats a number. */
export function encodeChange(c: GuardedChange, out: string[]): void {
  out.push(String(c.guards.length))
  for (const g of c.guards) {
    out.push(String(g.expected), String(g.cmd.length))
    for (const x of g.cmd) out.push(String(x))
  }
  out.push(String(c.then.length))
  for (const cmd of c.then) {
    out.push(String(cmd.length))
    for (const x of cmd) out.push(String(x))
  }
}

/** Encodes changes for guardedApply (the ARGV after the fence). */
export function encodeChanges(changes: readonly GuardedChange[]): string[] {
  const out: string[] = []
  for (const c of changes) encodeChange(c, out)
  return out
}
