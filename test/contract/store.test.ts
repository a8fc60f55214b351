import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startUpstashProxy, type UpstashProxy } from '../../deploy/upstash-proxy.ts'
import { createIoredisStore } from '../../shared/store/drivers/ioredis.ts'
import { createMemoryStore } from '../../shared/store/drivers/memory.ts'
import { createUpstashStore } from '../../shared/store/drivers/upstash.ts'
import { asHash, asScored } from '../../shared/store/ops.ts'
import { compareAndDelete, compareAndExpire } from '../../shared/store/scripts.ts'
import type { Store } from '../../shared/store/types.ts'
import { deletePrefix, REDIS, uniquePrefix } from '../support/context.ts'

/** One suite, three drivers: the memory interpreter must answer exactly like Redis does. */
let proxy: UpstashProxy
const TOKEN = 'contract-token'
const stores: Record<string, () => Store> = {
  memory: () => createMemoryStore(),
  redis: () => createIoredisStore(REDIS),
  upstash: () => createUpstashStore({ url: proxy.url, token: TOKEN }),
}

beforeAll(async () => {
  proxy = await startUpstashProxy({ redis: REDIS, token: TOKEN })
})
afterAll(async () => {
  await proxy.close()
})

describe.each(Object.keys(stores))('store contract: %s', (driver) => {
  let store: Store
  let p: string
  beforeAll(() => {
    store = stores[driver]!()
  })
  afterAll(async () => {
    await deletePrefix(p).catch(() => {})
    await store.close()
  })
  const k = (name: string) => `${p}${name}`
  it('strings: SET/GET/NX/PX/MGET/DEL/INCR', async () => {
    p = uniquePrefix(`store-${driver}`)
    expect(await store.call(['SET', k('a'), 'hello wörld ✓'])).toBe('OK')
    expect(await store.call(['GET', k('a')])).toBe('hello wörld ✓')
    expect(await store.call(['SET', k('a'), 'x', 'NX'])).toBeNull()
    expect(await store.call(['SET', k('b'), 'OK', 'PX', 60000])).toBe('OK')
    expect(await store.call(['GET', k('b')])).toBe('OK')
    const pttl = Number(await store.call(['PTTL', k('b')]))
    expect(pttl).toBeGreaterThan(50000)
    expect(await store.call(['MGET', k('a'), k('missing'), k('b')])).toEqual(['hello wörld ✓', null, 'OK'])
    expect(await store.call(['INCR', k('n')])).toBe(1)
    expect(await store.call(['INCR', k('n')])).toBe(2)
    expect(await store.call(['DEL', k('a'), k('missing')])).toBe(1)
    expect(await store.call(['EXISTS', k('a'), k('b')])).toBe(1)
  })
  it('expiry: a key with EX disappears', async () => {
    await store.call(['SET', k('short'), 'v', 'PX', 50])
    await new Promise((r) => setTimeout(r, 120))
    expect(await store.call(['GET', k('short')])).toBeNull()
    expect(await store.call(['PTTL', k('short')])).toBe(-2)
  })
  it('hashes, sets and sorted sets decode the same way', async () => {
    expect(await store.call(['HSET', k('h'), 'f1', 'v1', 'f2', 'v2'])).toBe(2)
    expect(asHash(await store.call(['HGETALL', k('h')]))).toEqual({ f1: 'v1', f2: 'v2' })
    expect(await store.call(['HSETNX', k('h'), 'f1', 'zz'])).toBe(0)
    expect(await store.call(['HMGET', k('h'), 'f2', 'nope'])).toEqual(['v2', null])
    expect(await store.call(['SADD', k('s'), 'b', 'a', 'b'])).toBe(2)
    expect(((await store.call(['SMEMBERS', k('s')])) as string[]).sort()).toEqual(['a', 'b'])
    await store.call(['ZADD', k('z'), 3, 'c', 1, 'a', 2, 'b'])
    expect(asScored(await store.call(['ZRANGE', k('z'), 0, -1, 'WITHSCORES']))).toEqual([
      { member: 'a', score: 1 },
      { member: 'b', score: 2 },
      { member: 'c', score: 3 },
    ])
    expect(await store.call(['ZRANGEBYSCORE', k('z'), '(1', '+inf', 'LIMIT', 0, 1])).toEqual(['b'])
    await store.call(['ZADD', k('z'), 'GT', 0, 'c'])
    expect(await store.call(['ZSCORE', k('z'), 'c'])).toBe('3')
    expect(await store.call(['ZCARD', k('z')])).toBe(3)
  })
  it('capped lists', async () => {
    for (const x of ['1', '2', '3', '4']) await store.call(['LPUSH', k('l'), x])
    await store.call(['LTRIM', k('l'), 0, 2])
    expect(await store.call(['LRANGE', k('l'), 0, -1])).toEqual(['4', '3', '2'])
  })
  it('pipeline returns replies in order', async () => {
    const r = await store.pipeline([
      ['SET', k('p1'), 'x'],
      ['GET', k('p1')],
      ['INCR', k('p2')],
    ])
    expect(r).toEqual(['OK', 'x', 1])
  })
  it('transaction applies all commands', async () => {
    const r = await store.transaction([
      ['SET', k('t1'), 'a'],
      ['SADD', k('t2'), 'm'],
    ])
    expect(r).toEqual(['OK', 1])
    expect(await store.call(['GET', k('t1')])).toBe('a')
  })
  it('a wrong-type command fails with a Redis error, not "unavailable"', async () => {
    await store.call(['SET', k('str'), 'x'])
    await expect(store.call(['HGET', k('str'), 'f'])).rejects.toThrow(/WRONGTYPE/)
  })
  it('lease scripts: compare-and-expire / compare-and-delete honour the token', async () => {
    await store.call(['SET', k('lease'), 'tok-1', 'PX', 1000])
    expect(await store.runScript(compareAndExpire, [k('lease')], ['tok-2', 60000])).toBe(0)
    expect(await store.runScript(compareAndExpire, [k('lease')], ['tok-1', 60000])).toBe(1)
    expect(Number(await store.call(['PTTL', k('lease')]))).toBeGreaterThan(50000)
    expect(await store.runScript(compareAndDelete, [k('lease')], ['tok-2'])).toBe(0)
    expect(await store.runScript(compareAndDelete, [k('lease')], ['tok-1'])).toBe(1)
    expect(await store.call(['GET', k('lease')])).toBeNull()
  })
  it('SCAN MATCH walks the keyspace with a cursor', async () => {
    for (let i = 0; i < 25; i++) await store.call(['SET', k(`scan:${i}`), String(i)])
    const seen = new Set<string>()
    let cursor = '0'
    do {
      const [next, keys] = (await store.call(['SCAN', cursor, 'MATCH', `${p}scan:*`, 'COUNT', 10])) as [string, string[]]
      keys.forEach((x) => seen.add(x))
      cursor = String(next)
    } while (cursor !== '0')
    expect(seen.size).toBe(25)
  })
  it('ping answers with a latency', async () => {
    expect(await store.ping()).toBeGreaterThanOrEqual(0)
    expect(store.state()).toBe('ready')
  })
})

describe('ioredis driver while connecting', () => {
  it('commands issued before the connection is ready share one wait (no pile-up of ready listeners)', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error) => void warnings.push(w.name)
    process.on('warning', onWarning)
    const store = createIoredisStore(REDIS)
    try {
      const replies = await Promise.all(Array.from({ length: 30 }, () => store.call(['PING'])))
      expect(replies.every((r) => r === 'PONG')).toBe(true)
      await new Promise((r) => setImmediate(r))
      expect(warnings).not.toContain('MaxListenersExceededWarning')
    } finally {
      process.off('warning', onWarning)
      await store.close()
    }
  })
})
