import { asNumber } from './ops.ts'
import { encodeChange, guardedApply, type GuardedChange } from './scripts.ts'
import type { Command, Reply, Store } from './types.ts'

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
/** Also cut a chunk at this many arguments (a change may carry many commands; calls have an argument limit). */
const CHUNK_ARGS = 40_000
/** Chunks sent before the first reply is awaited: Redis applies one while the next is encoded. */
const IN_FLIGHT = 4

/**
 * Applies guarded changes in chunks, each chunk atomic and checked against the fence
 * (when given). Returns 1/0 per change; throws FencedOutError when the fence is stale
 * (a fence only grows, so once one chunk is refused every later one is too).
 */
export async function applyGuarded(store: Store, changes: readonly GuardedChange[], fence?: Fence): Promise<number[]> {
  const applied: number[] = []
  const sent: Promise<Reply>[] = []
  let next = 0
  const send = () => {
    const args: string[] = [String(fence?.value ?? 0)]
    for (let n = 0; next < changes.length && n < CHUNK && args.length < CHUNK_ARGS; n++) encodeChange(changes[next++]!, args)
    const p = store.runScript(guardedApply, fence ? [fence.key] : [], args)
    p.catch(() => {}) // awaited in order below
    sent.push(p)
  }
  try {
    while (next < changes.length && sent.length < IN_FLIGHT) send()
    while (sent.length) {
      const reply = await sent.shift()!
      if (!Array.isArray(reply)) {
        if (fence && asNumber(reply) === -1) throw new FencedOutError(fence)
        throw new Error(`guarded-apply: unexpected reply ${JSON.stringify(reply)}`)
      }
      applied.push(...reply.map(asNumber))
      if (next < changes.length) send()
    }
  } finally {
    await Promise.allSettled(sent)
  }
  return applied
}

/** Writes commands atomically unless a newer leader exists (then throws FencedOutError). */
export async function fencedWrite(store: Store, fence: Fence, cmds: readonly Command[]): Promise<void> {
  if (cmds.length === 0) return
  await applyGuarded(store, [{ guards: [], then: cmds.map((c) => c.map(String)) }], fence)
}
