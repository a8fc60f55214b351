import type { Script } from './types.ts'

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
 * Applies guarded changes atomically, refusing the whole batch when a fence is given and the
 * stored fence counter is higher (a newer leader exists: this caller is stale).
 * KEYS: [fenceKey] or []. ARGV: fence, JSON [[guards: [[cmd...], expected]...], [then: [cmd...]...]]...
 * Replies -1 when refused, else one 1/0 per change (applied or guarded out).
 * The commands name keys that are not declared in KEYS: fine on a single Redis (and Upstash),
 * not on Redis Cluster, which this orchestrator does not target.
 */
export const guardedApply: Script = {
  name: 'guarded-apply',
  lua: `
if #KEYS > 0 then
  local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
  if stored > tonumber(ARGV[1]) then return -1 end
end
local changes = cjson.decode(ARGV[2])
local out = {}
for i, change in ipairs(changes) do
  local ok = 1
  for _, guard in ipairs(change[1]) do
    if redis.call(unpack(guard[1])) ~= guard[2] then ok = 0 break end
  end
  if ok == 1 then
    for _, cmd in ipairs(change[2]) do redis.call(unpack(cmd)) end
  end
  out[i] = ok
end
return out`,
  local: (run, keys, [fence, json]) => {
    if (keys.length > 0 && Number(run(['GET', keys[0]!]) ?? 0) > Number(fence)) return -1
    const changes = JSON.parse(json!) as [[string[], number][], string[][]][]
    return changes.map(([guards, then]) => {
      for (const [cmd, expected] of guards) if (run(cmd as unknown as readonly [string, ...string[]]) !== expected) return 0
      for (const cmd of then) run(cmd as unknown as readonly [string, ...string[]])
      return 1
    })
  },
}

/** Encodes changes for guardedApply; every argument becomes a string so Lua never reformats a number. */
export const encodeChanges = (changes: readonly GuardedChange[]) =>
  JSON.stringify(changes.map((c) => [c.guards.map((g) => [g.cmd.map(String), g.expected]), c.then.map((cmd) => cmd.map(String))]))
