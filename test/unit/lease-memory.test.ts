import { describe, expect, it } from 'vitest'
import { createLease, readLeases } from '../../shared/lease.ts'
import { restartVerdict } from '../../shared/health/smart-restart.ts'
import { createMemoryStore } from '../../shared/store/drivers/memory.ts'
import { FencedOutError, fencedWrite } from '../../shared/store/fenced.ts'
import { createKeys } from '../../shared/store/keys.ts'

describe('lease and fenced writes on the memory store (the scripts’ JS twins)', () => {
  it('acquires once, fences, refuses a stale write, releases only its own token', async () => {
    const r = { store: createMemoryStore(), keys: createKeys('') }
    const a = createLease(r, 'x', { ttlMs: 10_000, holder: 'a' })
    const b = createLease(r, 'x', { ttlMs: 10_000, holder: 'b' })
    expect(await a.tryAcquire()).toBe(1)
    expect(await b.tryAcquire()).toBeNull()
    await r.store.call(['DEL', r.keys.lease('x')])
    expect(await b.tryAcquire()).toBe(2)
    await expect(fencedWrite(r.store, { key: r.keys.fence('x'), value: 1 }, [['SET', 'k', 'a']])).rejects.toBeInstanceOf(FencedOutError)
    await fencedWrite(r.store, { key: r.keys.fence('x'), value: 2 }, [['SET', 'k', 'b']])
    expect(await r.store.call(['GET', 'k'])).toBe('b')
    await a.release()
    expect((await readLeases(r, ['x']))[0]).toMatchObject({ holder: 'b', fence: 2 })
    await b.release()
    expect((await readLeases(r, ['x']))[0]!.holder).toBeNull()
  })
})

describe('restartVerdict (the smart-restart table)', () => {
  it.each([
    ['healthy', null, false],
    ['unavailable', null, true],
    ['degraded', 299, false],
    ['degraded', 300, true],
  ] as const)('%s for %s s → restart %s', (status, seconds, expected) => {
    expect(restartVerdict(status, seconds, 5).shouldRestart).toBe(expected)
  })
})
