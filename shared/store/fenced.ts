import { asNumber } from './ops.ts'
import { encodeChange, guardedApply, type GuardedChange } from './scripts.ts'
import type { Command, Reply, Script, Store } from './types.ts'

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

/** Items per script call: keeps each Lua run short (Redis blocks while it runs). */
const CHUNK = 500
/** Also cut a chunk at this many arguments (an item may carry many; calls have an argument limit). */
const CHUNK_ARGS = 40_000
/** Chunks sent before the first reply is awaited: Redis applies one while the next is encoded. */
const IN_FLIGHT = 4

export interface FencedBatch {
  /** Script KEYS; the fence counter is appended when a fence is given. */
  keys: string[]
  fence?: Fence
  /** ARGV after the fence value, the same for every chunk. */
  head: string[]
  /** Number of items; encode(i, args) appends item i's arguments. */
  count: number
  encode: (i: number, args: string[]) => void
}

/**
 * Runs a batch script over items in chunks, each chunk one atomic script call, a few in flight
 * (encoding the next chunk overlaps Redis applying the previous one). The script takes
 * KEYS [..., fence?], ARGV [fence, ...head, ...items] and replies -1 when the fence is stale,
 * else one 1/0 per item. Throws FencedOutError once a chunk is refused (a fence only grows,
 * so every later chunk would be refused too).
 */
export async function runFencedBatch(store: Store, script: Script, b: FencedBatch): Promise<number[]> {
  const keys = b.fence ? [...b.keys, b.fence.key] : b.keys
  const applied: number[] = []
  const sent: Promise<Reply>[] = []
  let next = 0
  const send = () => {
    const args: string[] = [String(b.fence?.value ?? 0), ...b.head]
    for (let n = 0; next < b.count && n < CHUNK && args.length < CHUNK_ARGS; n++) b.encode(next++, args)
    const p = store.runScript(script, keys, args)
    p.catch(() => {}) // awaited in order below
    sent.push(p)
  }
  try {
    while (next < b.count && sent.length < IN_FLIGHT) send()
    while (sent.length) {
      const reply = await sent.shift()!
      if (!Array.isArray(reply)) {
        if (b.fence && asNumber(reply) === -1) throw new FencedOutError(b.fence)
        throw new Error(`${script.name}: unexpected reply ${JSON.stringify(reply)}`)
      }
      applied.push(...reply.map(asNumber))
      if (next < b.count) send()
    }
  } finally {
    await Promise.allSettled(sent)
  }
  return applied
}

/**
 * Applies guarded changes in chunks, each chunk atomic and checked against the fence
 * (when given). Returns 1/0 per change; throws FencedOutError when the fence is stale.
 */
export async function applyGuarded(store: Store, changes: readonly GuardedChange[], fence?: Fence): Promise<number[]> {
  return runFencedBatch(store, guardedApply, { keys: [], fence, head: [], count: changes.length, encode: (i, args) => encodeChange(changes[i]!, args) })
}

/** Writes commands atomically unless a newer leader exists (then throws FencedOutError). */
export async function fencedWrite(store: Store, fence: Fence, cmds: readonly Command[]): Promise<void> {
  if (cmds.length === 0) return
  await applyGuarded(store, [{ guards: [], then: cmds.map((c) => c.map(String)) }], fence)
}
