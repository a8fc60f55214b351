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
