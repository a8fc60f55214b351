import { Hono } from 'hono/tiny'
import { ConfigError, type EnvRecord } from '../shared/config.ts'
import { mountFunctions, type Env } from '../shared/http/app.ts'
import type { AnyFunction } from '../shared/function.ts'
import { edgePlatform, type Platform } from '../shared/platform.ts'
import { configErrorResponse, createFetchHandler, envStrings, type FetchHandler } from './fetch-handler.ts'

/** What workerd, Deno and Bun accept as a module's default export. */
export interface WorkerModule {
  fetch(request: Request, env?: unknown, ctx?: unknown): Promise<Response>
}

export interface WorkerOptions {
  platform?: Platform
  /** Where config comes from when the runtime passes no `env` (Node/Deno bundles: process.env). */
  defaultEnv?: () => EnvRecord
}

/**
 * The template every function bundle is built from (deploy/build.ts generates
 * `export default createWorker([fn])` per function). On workerd the config arrives with each
 * request as `env`; the context is built on the first request and kept for the isolate's life.
 */
export function createWorker(functions: readonly AnyFunction[], opts: WorkerOptions = {}): WorkerModule {
  let handler: FetchHandler | undefined
  return {
    async fetch(request, env) {
      if (!handler) {
        const record = env === undefined && opts.defaultEnv ? opts.defaultEnv() : envStrings(env)
        try {
          handler = createFetchHandler(functions, record, opts.platform ?? edgePlatform, (fns, ctx) => mountFunctions(new Hono<Env>(), fns, ctx))
        } catch (e) {
          if (e instanceof ConfigError) return configErrorResponse(e)
          throw e
        }
      }
      return handler.fetch(request)
    },
  }
}
