import { describe, expect, it } from 'vitest'
import { createReadCache } from '../../shared/health/read-cache.ts'

describe('read cache', () => {
  it('shares one load among concurrent readers and reuses it within the window', async () => {
    let now = 0
    let loads = 0
    const cache = createReadCache<number>(1000, () => now)
    const load = async () => ++loads
    expect(await Promise.all([cache.get('a', load), cache.get('a', load), cache.get('a', load)])).toEqual([1, 1, 1])
    now = 999
    expect(await cache.get('a', load)).toBe(1)
    now = 1000
    expect(await cache.get('a', load)).toBe(2)
    expect(await cache.get('b', load)).toBe(3)
  })
  it('does not keep a failure', async () => {
    const cache = createReadCache<number>(1000, () => 0)
    await expect(cache.get('a', () => Promise.reject(new Error('down')))).rejects.toThrow('down')
    expect(await cache.get('a', async () => 7)).toBe(7)
  })
  it('ttl 0 always loads', async () => {
    let loads = 0
    const cache = createReadCache<number>(0)
    await cache.get('a', async () => ++loads)
    await cache.get('a', async () => ++loads)
    expect(loads).toBe(2)
  })
})
