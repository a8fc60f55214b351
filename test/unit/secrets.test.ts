import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { changedSecrets, redactSpec, redactingReplacer, secretDigest, sha256Hex } from '../../shared/backends/secrets.ts'
import type { UnitSpec } from '../../shared/backends/types.ts'

const spec = (secrets?: Record<string, string>): UnitSpec => ({ name: 'u', environment: 'e', app: 'a', role: 'app', replica: 1, image: 'i', env: {}, extraHosts: [], hostPorts: [], ...(secrets ? { secrets } : {}) })

describe('secret digests', () => {
  it('sha256Hex matches node:crypto for empty, multi-block and non-ASCII input', () => {
    for (const t of ['', 'abc', 'x'.repeat(55), 'y'.repeat(56), 'z'.repeat(200), 'héllo wörld ✓']) expect(sha256Hex(t)).toBe(createHash('sha256').update(t).digest('hex'))
  })
  it('redacts specs and records, and compares by digest', () => {
    const s = spec({ TOKEN: 'v1' })
    expect(redactSpec(s).secrets!.TOKEN).toBe(`sha256:${sha256Hex('v1')}`)
    expect(secretDigest(redactSpec(s).secrets!.TOKEN!)).toBe(redactSpec(s).secrets!.TOKEN)
    expect(JSON.stringify({ plan: { actions: [{ spec: s }] } }, redactingReplacer)).not.toContain('v1"')
    expect(changedSecrets(redactSpec(s), s)).toEqual([])
    expect(changedSecrets(redactSpec(s), spec({ TOKEN: 'v2' }))).toEqual(['TOKEN'])
    expect(changedSecrets(spec(), spec({ NEW: 'x' }))).toEqual(['NEW'])
  })
})
