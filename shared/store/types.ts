import type { StoreDriverName } from '../config.ts'

export type RedisArg = string | number
export type Command = readonly [string, ...RedisArg[]]
export type Reply = string | number | null | Reply[]

/**
 * A Lua script with a plain-JS twin for the memory driver. The twin receives a `run`
 * function over the same command set, so both read as the same algorithm.
 */
export interface Script {
  name: string
  lua: string
  local(run: (cmd: Command) => Reply, keys: string[], args: string[]): Reply
}

export type StoreState = 'ready' | 'connecting' | 'down'

/**
 * Every driver speaks raw Redis commands and returns raw RESP-shaped replies
 * (flat arrays for HGETALL, strings for bulk, numbers for integers), so typed helpers
 * in ops.ts decode once for all drivers.
 */
export interface Store {
  readonly driver: StoreDriverName
  call(cmd: Command): Promise<Reply>
  /** One round trip, not atomic. A failing command rejects the whole call. */
  pipeline(cmds: readonly Command[]): Promise<Reply[]>
  /** MULTI/EXEC: all commands apply or none do. */
  transaction(cmds: readonly Command[]): Promise<Reply[]>
  runScript(script: Script, keys: string[], args: RedisArg[]): Promise<Reply>
  /** Round-trip latency in ms; rejects with StoreUnavailableError when down. */
  ping(): Promise<number>
  state(): StoreState
  close(): Promise<void>
}

export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreUnavailableError'
  }
}
