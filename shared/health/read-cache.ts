/**
 * A tiny read-through cache with single-flight: concurrent readers of the same key share
 * one Redis round trip, and a result is reused for `ttlMs`. Heartbeats arrive every ~30 s
 * and live 90 s, so a 1 s window costs no meaningful freshness and turns a burst of health
 * polls into one read. ttlMs = 0 disables it.
 */
export interface ReadCache<T> {
  get(key: string, load: () => Promise<T>): Promise<T>
}

export function createReadCache<T>(ttlMs: number, now: () => number = Date.now, maxEntries = 1000): ReadCache<T> {
  const entries = new Map<string, { at: number; value: Promise<T> }>()
  return {
    get(key, load) {
      if (ttlMs <= 0) return load()
      const hit = entries.get(key)
      if (hit && now() - hit.at < ttlMs) return hit.value
      if (entries.size >= maxEntries) entries.clear()
      const value = load()
      entries.set(key, { at: now(), value })
      // A failed read is not cached: the next caller retries at once.
      value.catch(() => entries.get(key)?.value === value && entries.delete(key))
      return value
    },
  }
}
