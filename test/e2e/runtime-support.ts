import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { createIoredisStore } from '../../shared/store/drivers/ioredis.ts'
import type { Store } from '../../shared/store/types.ts'
import { deletePrefix, REDIS } from '../support/context.ts'
import { waitFor } from '../support/services.ts'

/** A port nobody listens on right now (for processes that must be told their port up front). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** The ioredis store fails fast while connecting, so wait for "ready" before using it directly. */
export async function readyRedis(): Promise<Store> {
  const store = createIoredisStore(REDIS)
  if (!(await waitFor(async () => store.state() === 'ready', 10_000, 20))) throw new Error(`Redis at ${REDIS} did not become ready`)
  return store
}

export async function dropPrefix(prefix: string) {
  const store = await readyRedis()
  try {
    await deletePrefix(prefix, store)
  } finally {
    await store.close()
  }
}

/** Polls a URL until it answers 200 (a server process starting up). */
export const answers200 = (url: string, timeoutMs: number) =>
  waitFor(async () => (await fetch(url, { signal: AbortSignal.timeout(1000) })).status === 200, timeoutMs, 50)
