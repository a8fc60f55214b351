import type { MiddlewareHandler } from 'hono'

const SAFE = /^[A-Za-z0-9._:-]{1,128}$/

/** Echoes a well-formed `x-request-id` or generates one; handlers and logs use the same id. */
export const requestId = (): MiddlewareHandler<{ Variables: { requestId: string } }> => async (c, next) => {
  const incoming = c.req.header('x-request-id')
  const id = incoming && SAFE.test(incoming) ? incoming : crypto.randomUUID()
  c.set('requestId', id)
  // Set before the handler runs so Hono applies it to the response it builds; touching
  // c.res afterwards would force the Node adapter to materialise a full Response.
  c.header('x-request-id', id)
  await next()
}
