import type { Command, Reply, Script } from '../store/types.ts'
import { HISTORY_KEPT, PRIORITY_RANK, type PendingRestart } from './types.ts'

/**
 * The two atomic steps of the restart path, as Lua with JS twins (memory driver):
 * accept (running? → join it; pending? → merge into it; budget spent? → refuse; else new)
 * and claim (pending → running, if the environment has a free restart slot).
 */
const MAX_REASONS = 20

export interface Merge {
  reason: string
  requestedBy: string
  priority: PendingRestart['priority']
  grace: number
  env: Record<string, string>
}

function mergeInto(p: PendingRestart, m: Merge): PendingRestart {
  if (p.reasons.length < MAX_REASONS) p.reasons.push(m.reason)
  if (!p.requestedBy.includes(m.requestedBy)) p.requestedBy.push(m.requestedBy)
  p.requests += 1
  if (PRIORITY_RANK[m.priority] > PRIORITY_RANK[p.priority]) p.priority = m.priority
  if (m.grace > p.shutdownGracePeriod) p.shutdownGracePeriod = m.grace
  Object.assign(p.env, m.env)
  return p
}

/**
 * KEYS: running, pending, budget, queue. ARGV: now, budget, budgetWindowMs, pendingTtlMs, newJson, appName, mergeJson.
 * Returns [outcome, payload]: running/merged → that restart's JSON, budget → oldest charge (ms), new → the new JSON.
 */
export const acceptRestart: Script = {
  name: 'restart-accept',
  lua: `
local running = redis.call('GET', KEYS[1])
if running then return {'running', running} end
local pending = redis.call('GET', KEYS[2])
if pending then
  local p = cjson.decode(pending)
  local m = cjson.decode(ARGV[7])
  if #p.reasons < ${MAX_REASONS} then table.insert(p.reasons, m.reason) end
  local seen = false
  for _, who in ipairs(p.requestedBy) do if who == m.requestedBy then seen = true end end
  if not seen then table.insert(p.requestedBy, m.requestedBy) end
  p.requests = p.requests + 1
  local rank = {graceful = 1, immediate = 2, force = 3}
  if rank[m.priority] > rank[p.priority] then p.priority = m.priority end
  if m.grace > p.shutdownGracePeriod then p.shutdownGracePeriod = m.grace end
  for k, v in pairs(m.env) do p.env[k] = v end
  local out = cjson.encode(p)
  redis.call('SET', KEYS[2], out, 'KEEPTTL')
  return {'merged', out}
end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {'budget', oldest[2]}
end
local p = cjson.decode(ARGV[5])
redis.call('ZADD', KEYS[3], now, p.id)
redis.call('PEXPIRE', KEYS[3], ARGV[3])
redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[4])
redis.call('ZADD', KEYS[4], p.dueAt, ARGV[6])
return {'new', ARGV[5]}`,
  local: (run, [running, pending, budget, queue], [now, max, windowMs, ttlMs, json, appName, merge]) => {
    const r = run(['GET', running!])
    if (r !== null) return ['running', r]
    const cur = run(['GET', pending!])
    if (typeof cur === 'string') {
      const out = JSON.stringify(mergeInto(JSON.parse(cur) as PendingRestart, JSON.parse(merge!) as Merge))
      const ttl = Number(run(['PTTL', pending!]))
      run(['SET', pending!, out, ...(ttl > 0 ? (['PX', ttl] as const) : [])] as unknown as Command)
      return ['merged', out]
    }
    run(['ZREMRANGEBYSCORE', budget!, '-inf', Number(now) - Number(windowMs)])
    if (Number(run(['ZCARD', budget!])) >= Number(max)) {
      const oldest = run(['ZRANGE', budget!, 0, 0, 'WITHSCORES']) as Reply[]
      return ['budget', oldest[1] ?? now!]
    }
    const p = JSON.parse(json!) as PendingRestart
    run(['ZADD', budget!, Number(now), p.id])
    run(['PEXPIRE', budget!, windowMs!])
    run(['SET', pending!, json!, 'PX', ttlMs!])
    run(['ZADD', queue!, p.dueAt, appName!])
    return ['new', json!]
  },
}

/**
 * KEYS: pending, running, slots, queue. ARGV: now, id, runningTtlMs, maxConcurrent, appName.
 * Returns ['claimed', json] | ['gone'] | ['busy'] | ['wait'] (environment at its concurrency limit).
 */
export const claimRestart: Script = {
  name: 'restart-claim',
  lua: `
local pending = redis.call('GET', KEYS[1])
if not pending then redis.call('ZREM', KEYS[4], ARGV[5]) return {'gone'} end
local p = cjson.decode(pending)
if p.id ~= ARGV[2] then return {'gone'} end
if redis.call('GET', KEYS[2]) then return {'busy'} end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then return {'wait'} end
p.startedAt = now
local out = cjson.encode(p)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), p.id)
redis.call('SET', KEYS[2], out, 'PX', ARGV[3])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[4], ARGV[5])
return {'claimed', out}`,
  local: (run, [pending, running, slots, queue], [now, id, ttlMs, max, appName]) => {
    const cur = run(['GET', pending!])
    if (typeof cur !== 'string') {
      run(['ZREM', queue!, appName!])
      return ['gone']
    }
    const p = JSON.parse(cur) as PendingRestart
    if (p.id !== id) return ['gone']
    if (run(['GET', running!]) !== null) return ['busy']
    run(['ZREMRANGEBYSCORE', slots!, '-inf', Number(now)])
    if (Number(run(['ZCARD', slots!])) >= Number(max)) return ['wait']
    p.startedAt = Number(now)
    const out = JSON.stringify(p)
    run(['ZADD', slots!, Number(now) + Number(ttlMs), p.id])
    run(['SET', running!, out, 'PX', ttlMs!])
    run(['DEL', pending!])
    run(['ZREM', queue!, appName!])
    return ['claimed', out]
  },
}

export { HISTORY_KEPT }

/**
 * KEYS: key. ARGV: expected, replacement. Replaces the value only if it is still `expected`,
 * keeping its expiry (the Node side filling in an edge-queued request's target). Returns 1 or 0.
 */
export const compareAndReplace: Script = {
  name: 'compare-and-replace',
  lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1`,
  local: (run, [key], [expected, replacement]) => {
    if (run(['GET', key!]) !== expected) return 0
    const ttl = Number(run(['PTTL', key!]))
    run(['SET', key!, replacement!, ...(ttl > 0 ? (['PX', ttl] as const) : [])] as unknown as Command)
    return 1
  },
}
