import type { Command, Reply, Script, Store } from '../types.ts'
import { createMemoryCommands, type MemoryData } from './memory-commands.ts'

/**
 * The embedded driver: a small in-process interpreter of the Redis commands the core
 * uses. Each call runs synchronously to completion, so a transaction or script is atomic
 * here for the same reason it is atomic inside Redis: nothing interleaves.
 */
export function createMemoryStore(now: () => number = Date.now): Store & { data: MemoryData } {
  const data: MemoryData = new Map()
  const run = createMemoryCommands(data, now)
  const call = (cmd: Command): Reply => run(cmd)
  return {
    driver: 'memory',
    data,
    call: async (cmd) => call(cmd),
    pipeline: async (cmds) => cmds.map(call),
    transaction: async (cmds) => {
      // Redis queues the whole MULTI and rejects it on a syntax error before applying any;
      // we check names first so an unknown command writes nothing.
      for (const c of cmds) if (!run.supports(c[0])) throw new Error(`ERR unknown command '${c[0]}'`)
      return cmds.map(call)
    },
    runScript: async (script: Script, keys, args) => script.local(call, keys, args.map(String)),
    ping: async () => 0,
    state: () => 'ready',
    close: async () => {},
  }
}
