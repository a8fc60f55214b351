import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/** The baseline: bare node:http answering a fixed JSON body of the size given, from memory. */
const body = process.env.BARE_BODY ?? '{}'
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
})
server.listen(0, '127.0.0.1', () => console.log(`LISTENING http://127.0.0.1:${(server.address() as AddressInfo).port}`))
process.once('SIGTERM', () => server.close(() => process.exit(0)))
