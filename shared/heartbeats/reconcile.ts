import { asArray, asString, parseJson } from '../store/ops.ts'
import type { Keys } from '../store/keys.ts'
import type { Command, Store } from '../store/types.ts'

export interface ReconcileResult {
  scanned: number
  indexed: number
  /** True when the SCAN cursor came back to 0 during this run (one full pass finished). */
  passComplete: boolean
  steps: number
}

export interface ReconcileOptions {
  /** Keys per SCAN step (Redis COUNT hint). */
  count?: number
  /** Upper bound on SCAN steps per run. */
  maxSteps?: number
  /** Time budget per run: a run stops after this long even mid-pass (the cursor is kept). */
  maxMs?: number
}

/**
 * Finds heartbeat keys written by clients that know nothing of our index (Bannou's existing
 * services just SET the key) and adds them to it. The SCAN cursor lives in Redis, so each
 * run continues where the last stopped, across processes; a request never triggers it.
 */
export async function reconcileHeartbeatIndex(
  r: { store: Store; keys: Keys; now: () => number },
  opts: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const { store, keys } = r
  // A whole pass fits one run for keyspaces of millions of keys (SCAN COUNT 5000 answers in
  // ~1-2 ms), so a plain SET heartbeat is indexed within one interval; the time budget keeps a
  // run short on anything larger, and the next run continues from the stored cursor.
  const count = opts.count ?? 5000
  const maxSteps = opts.maxSteps ?? 2000
  const deadline = Date.now() + (opts.maxMs ?? 2000)
  let cursor = asString(await store.call(['GET', keys.reconcileCursor])) ?? '0'
  const result: ReconcileResult = { scanned: 0, indexed: 0, passComplete: false, steps: 0 }
  while (result.steps < maxSteps && Date.now() < deadline) {
    result.steps++
    const reply = asArray(await store.call(['SCAN', cursor, 'MATCH', keys.heartbeatScanPattern, 'COUNT', count]))
    cursor = String(reply[0] ?? '0')
    const found = asArray(reply[1] ?? []).map(String)
    result.scanned += found.length
    if (found.length > 0) result.indexed += await indexKeys(r, found)
    if (cursor === '0') {
      result.passComplete = true
      break
    }
  }
  await store.call(['SET', keys.reconcileCursor, cursor])
  return result
}

async function indexKeys(r: { store: Store; keys: Keys; now: () => number }, found: string[]): Promise<number> {
  const { store, keys } = r
  const values = asArray(await store.call(['MGET', ...found])).map(asString)
  const writes: Command[] = []
  found.forEach((key, i) => {
    const member = keys.memberFromHeartbeatKey(key)
    const raw = values[i] ?? null
    if (member === null || raw === null) return
    const json = parseJson(raw)
    const body = json.ok && typeof json.value === 'object' && json.value !== null ? (json.value as Record<string, unknown>) : {}
    const colon = member.indexOf(':')
    // Full form `{serviceId}:{appId}` names the service in the key; the short form `{appId}` only in the body.
    const serviceId = colon > 0 ? member.slice(0, colon) : typeof body.serviceId === 'string' ? body.serviceId : 'unknown'
    const ts = typeof body.timestamp === 'string' ? Date.parse(body.timestamp) : NaN
    const score = Number.isNaN(ts) ? r.now() : ts
    writes.push(
      ['ZADD', keys.heartbeatIndex, 'GT', score, member],
      ['ZADD', keys.serviceHeartbeatIndex(serviceId), 'GT', score, member],
      ['SADD', keys.services, serviceId],
    )
  })
  if (writes.length > 0) await store.pipeline(writes)
  return writes.length / 3
}
