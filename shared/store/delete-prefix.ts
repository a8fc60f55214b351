import { asArray } from './ops.ts'
import type { Store } from './types.ts'

/**
 * Removes every key under a prefix with an incremental SCAN (never FLUSHALL: a Redis is
 * usually shared). For tests and benchmarks that isolate themselves by key prefix; refuses an
 * empty prefix so it can never touch the reference keys.
 */
export async function deleteKeysWithPrefix(store: Store, prefix: string): Promise<number> {
  if (!prefix) throw new Error('refusing to delete keys without a prefix')
  let cursor = '0'
  let deleted = 0
  do {
    const reply = asArray(await store.call(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000]))
    cursor = String(reply[0])
    const found = asArray(reply[1] ?? []).map(String)
    if (found.length) deleted += Number(await store.call(['UNLINK', ...found]))
  } while (cursor !== '0')
  return deleted
}
