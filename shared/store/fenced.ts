import { asArray, asNumber } from './ops.ts'
import { encodeChanges, guardedApply, type GuardedChange } from './scripts.ts'
import type { Command, Store } from './types.ts'

/** A fencing number and the counter it was drawn from (keys.fence(leaseName)). */
export interface Fence {
  key: string
  value: number
}

/** A newer leader drew a higher fencing number: this caller's lease is stale; it must stop writing. */
export class FencedOutError extends Error {
  constructor(readonly fence: Fence) {
    super(`write refused: fencing number ${fence.value} is stale (${fence.key} has moved on; another scheduler leads now)`)
    this.name = 'FencedOutError'
  }
}

/** Changes per script call: keeps each Lua run short (Redis blocks while it runs). */
const CHUNK = 500

/**
 * Applies guarded changes in chunks, each chunk atomic and checked against the fence
 * (when given). Returns 1/0 per change; throws FencedOutError when the fence is stale.
 */
export async function applyGuarded(store: Store, changes: readonly GuardedChange[], fence?: Fence): Promise<number[]> {
  const applied: number[] = []
  for (let i = 0; i < changes.length; i += CHUNK) {
    const reply = await store.runScript(guardedApply, fence ? [fence.key] : [], [fence?.value ?? 0, encodeChanges(changes.slice(i, i + CHUNK))])
    if (!Array.isArray(reply)) {
      if (fence && asNumber(reply) === -1) throw new FencedOutError(fence)
      throw new Error(`guarded-apply: unexpected reply ${JSON.stringify(reply)}`)
    }
    applied.push(...asArray(reply).map(asNumber))
  }
  return applied
}

/** Writes commands atomically unless a newer leader exists (then throws FencedOutError). */
export async function fencedWrite(store: Store, fence: Fence, cmds: readonly Command[]): Promise<void> {
  if (cmds.length === 0) return
  await applyGuarded(store, [{ guards: [], then: cmds.map((c) => c.map(String)) }], fence)
}
