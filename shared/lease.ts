import type { Keys } from './store/keys.ts'
import { asNumber, asString } from './store/ops.ts'
import { acquireLease, compareAndDelete, compareAndExpire } from './store/scripts.ts'
import type { Store } from './store/types.ts'
import { errorMessage } from './errors.ts'

/**
 * A Redis lease: `SET NX PX` with a random token, renewed at a third of its TTL by
 * compare-and-expire, released by compare-and-delete. Each acquisition draws a fencing number
 * (INCR) so that writes of a holder that lost the lease without noticing can be refused.
 */
export interface Lease {
  readonly name: string
  readonly holder: string
  /** Fencing number of the current hold; null while not held. */
  readonly fence: number | null
  held(): boolean
  /** Takes the lease if free; returns the fencing number or null. Starts renewal. */
  tryAcquire(): Promise<number | null>
  /** Stops renewal and deletes the key if it is still ours. */
  release(): Promise<void>
}

export interface LeaseOptions {
  ttlMs: number
  /** Shown as the leader in status; no '#'. */
  holder: string
  /** Called once when a held lease is lost (renewal found another token, or could not renew within the TTL). */
  onLost?: (reason: string) => void
}

const TOKEN_SEPARATOR = '#'

export function createLease(r: { store: Store; keys: Keys }, name: string, opts: LeaseOptions): Lease {
  const key = r.keys.lease(name)
  const fenceKey = r.keys.fence(name)
  let token: string | null = null
  let fence: number | null = null
  let timer: ReturnType<typeof setInterval> | undefined
  let lastRenewed = 0

  const drop = (reason: string | null) => {
    if (timer) clearInterval(timer)
    timer = undefined
    const wasHeld = token !== null
    token = null
    fence = null
    if (wasHeld && reason) opts.onLost?.(reason)
  }

  const renew = async () => {
    const mine = token
    if (!mine) return
    const sent = Date.now()
    try {
      const ok = asNumber(await r.store.runScript(compareAndExpire, [key], [mine, opts.ttlMs]))
      if (token !== mine) return
      if (ok === 1) lastRenewed = sent
      else drop('lease taken over or expired')
    } catch (e) {
      // Redis unreachable: we may still hold it; once the TTL has passed we certainly do not.
      if (token === mine && Date.now() - lastRenewed >= opts.ttlMs) drop(`could not renew within the TTL: ${errorMessage(e)}`)
    }
  }

  return {
    name,
    holder: opts.holder,
    get fence() {
      return fence
    },
    held: () => token !== null && Date.now() - lastRenewed < opts.ttlMs,
    tryAcquire: async () => {
      if (token !== null && Date.now() - lastRenewed < opts.ttlMs) return fence
      drop(null)
      const candidate = `${opts.holder}${TOKEN_SEPARATOR}${crypto.randomUUID()}`
      const started = Date.now()
      const got = asNumber(await r.store.runScript(acquireLease, [key, fenceKey], [candidate, opts.ttlMs]))
      if (got <= 0) return null
      token = candidate
      fence = got
      lastRenewed = started
      timer = setInterval(() => void renew(), Math.max(1, Math.floor(opts.ttlMs / 3)))
      timer.unref?.()
      return got
    },
    release: async () => {
      const mine = token
      drop(null)
      if (mine) await r.store.runScript(compareAndDelete, [key], [mine])
    },
  }
}

export interface LeaseInfo {
  name: string
  /** Holder name of the current token, null when free. */
  holder: string | null
  expiresInMs: number | null
  /** Last fencing number drawn (0 = never acquired). */
  fence: number
}

/** Who holds which lease: one pipeline for all names. */
export async function readLeases(r: { store: Store; keys: Keys }, names: readonly string[]): Promise<LeaseInfo[]> {
  if (names.length === 0) return []
  const replies = await r.store.pipeline(names.flatMap((n) => [['GET', r.keys.lease(n)] as const, ['PTTL', r.keys.lease(n)] as const, ['GET', r.keys.fence(n)] as const]))
  return names.map((name, i) => {
    const token = asString(replies[i * 3]!)
    const ttl = asNumber(replies[i * 3 + 1]!)
    return {
      name,
      holder: token === null ? null : token.split(TOKEN_SEPARATOR)[0]!,
      expiresInMs: token === null || ttl < 0 ? null : ttl,
      fence: asNumber(replies[i * 3 + 2] ?? 0),
    }
  })
}
