import { Validator } from '@seriousme/openapi-schema-validator'
import { describe, expect, it } from 'vitest'
import { functions } from '../../functions/index.ts'
import status from '../../functions/status.ts'
import { nodePlatform } from '../../deploy/platform-node.ts'
import { createWorker } from '../../deploy/worker.ts'
import { loadConfig } from '../../shared/config.ts'
import { createContext } from '../../shared/context.ts'
import { buildApp } from '../../shared/http/app.ts'
import { silentLogger } from '../../shared/log.ts'

interface Operation {
  operationId: string
  'x-permission': string
  parameters: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[]
  requestBody?: { content: { 'application/json': { schema: { properties: Record<string, { pattern?: string }> } } } }
  responses: Record<string, unknown>
}
interface Document {
  openapi: string
  paths: Record<string, Record<string, Operation>>
}

const app = () => buildApp(functions, createContext(loadConfig({ ORCHESTRATOR_LOG_LEVEL: 'silent' }), nodePlatform, { log: silentLogger }))

describe('GET /orchestrator/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document listing every function with its permission', async () => {
    const res = await app().request('/orchestrator/openapi.json')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('application/json')
    const doc = (await res.json()) as Document
    expect(await new Validator().validate(doc as never)).toEqual({ valid: true })
    for (const fn of functions) {
      const op = doc.paths[fn.path.replace(/:(\w+)/g, '{$1}')]?.[fn.method.toLowerCase()]
      expect(op, `${fn.method} ${fn.path}`).toBeDefined()
      expect(op).toMatchObject({ operationId: fn.name, 'x-permission': fn.permission })
      expect(Object.keys(op!.responses)).toEqual(['200', '4XX', '5XX'])
    }
    const ids = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId))
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('takes parameters and bodies from the same schemas that validate requests', async () => {
    const doc = (await (await app().request('/orchestrator/openapi.json')).json()) as Document
    const restart = doc.paths['/orchestrator/containers/{appName}/request-restart']!.post!
    expect(restart.parameters).toContainEqual(expect.objectContaining({ name: 'appName', in: 'path', required: true }))
    expect(restart.requestBody?.content['application/json'].schema.properties).not.toHaveProperty('appName')
    const logs = doc.paths['/orchestrator/logs']!.get!
    expect(logs.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(expect.arrayContaining(['query:app', 'query:tail', 'query:follow']))
    const deploy = doc.paths['/orchestrator/deploy']!.post!
    expect(deploy.requestBody?.content['application/json'].schema.properties.environment?.pattern).toBeDefined()
  })

  it('a one-function bundle serves only its function, no document', async () => {
    const worker = createWorker([status], { platform: nodePlatform })
    expect((await worker.fetch(new Request('http://x/orchestrator/openapi.json'), { ORCHESTRATOR_LOG_LEVEL: 'silent' })).status).toBe(404)
  })
})
