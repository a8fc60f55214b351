import { asArray } from '../store/ops.ts'
import type { Script, Store } from '../store/types.ts'

/**
 * Deletes a consumer from the relay group only while it has nothing pending, in one atomic
 * step: deleting one that holds entries would drop them from the pending list, and entries
 * past the group's cursor are then never delivered. A consumer deleted while alive costs
 * nothing: its next XREADGROUP creates it again.
 * KEYS: outbox stream. ARGV: group, consumer names. Replies the names it deleted.
 */
export const deleteIdleConsumers: Script = {
  name: 'delete-idle-consumers',
  lua: `local out = {}
for i = 2, #ARGV do
  if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[i]) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[i])
    out[#out + 1] = ARGV[i]
  end
end
return out`,
  local: (run, [key], [group, ...names]) => {
    const out: string[] = []
    for (const name of names) {
      if (asArray(run(['XPENDING', key!, group!, '-', '+', 1, name])).length > 0) continue
      run(['XGROUP', 'DELCONSUMER', key!, group!, name])
      out.push(name)
    }
    return out
  },
}

/**
 * Relay consumers that left: every process and every scheduled drain reads under its own
 * name, so without pruning the group's consumer list grows for ever. Those idle longer than
 * `idleMs` with nothing pending are removed (the live relay, `self`, never).
 */
export async function pruneRelayConsumers(store: Store, key: string, group: string, opts: { self: string; idleMs: number }): Promise<string[]> {
  const consumers = asArray(await store.call(['XINFO', 'CONSUMERS', key, group])).map((c) => {
    const f = asArray(c)
    const field = (name: string) => f[f.indexOf(name) + 1]
    return { name: String(field('name')), pending: Number(field('pending')), idle: Number(field('idle')) }
  })
  const stale = consumers.filter((c) => c.name !== opts.self && c.pending === 0 && c.idle >= opts.idleMs).map((c) => c.name)
  if (stale.length === 0) return []
  return asArray(await store.runScript(deleteIdleConsumers, [key], [group, ...stale])).map(String)
}
