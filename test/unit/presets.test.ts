import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { nodePlatform } from '../../deploy/platform-node.ts'
import { generatedFile, renderBuiltinPresets } from '../../deploy/gen-presets.ts'
import { loadConfig } from '../../shared/config.ts'
import { loadPresets } from '../../shared/presets/load.ts'

describe('presets', () => {
  it('ships the seven built-ins, valid', async () => {
    const { presets, problems } = await loadPresets({ config: loadConfig({}), platform: nodePlatform })
    expect(problems).toEqual([])
    expect(presets.map((p) => p.name)).toEqual([
      'distributed-npc',
      'edge-testing',
      'http-testing',
      'local-development',
      'local-testing',
      'production-split',
      'split-auth-accounts',
    ])
    const npc = presets.find((p) => p.name === 'distributed-npc')!
    expect(npc.nodes.map((n) => [n.name, n.replicas, n.daprAppId])).toEqual([
      ['bannou-main', 1, 'bannou-main'],
      ['bannou-npc-omega', 3, 'npc-omega'],
      ['bannou-npc-arcadia', 2, 'npc-arcadia'],
    ])
    const testing = presets.find((p) => p.name === 'local-testing')!
    expect(testing.infrastructure).toEqual({ redis: { enabled: true }, rabbitmq: { enabled: true }, mysql: { enabled: true } })
    const prod = presets.find((p) => p.name === 'production-split')!
    expect(prod.nodes.every((n) => n.replicas === 2 && n.daprEnabled && n.services.length === 1)).toBe(true)
  })

  it('the embedded copy matches presets/*.yaml (run `npm run gen:presets` after editing)', async () => {
    expect(await readFile(generatedFile, 'utf8')).toBe(await renderBuiltinPresets())
  })

  it('loads user presets; an invalid file is reported by file and field and does not stop the others', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'presets-'))
    try {
      await writeFile(join(dir, 'mine.yaml'), 'nodes:\n  - name: game-a\n    services: [behavior]\n    replicas: 4\n')
      await writeFile(join(dir, 'broken.yaml'), 'nodes:\n  - name: Bad_Name\n    services: []\n    replicas: 0\n')
      await writeFile(join(dir, 'notyaml.yml'), 'nodes: [unclosed\n')
      const { presets, problems } = await loadPresets({ config: loadConfig({ ORCHESTRATOR_PRESETS_DIRECTORY: dir }), platform: nodePlatform })
      expect(presets.find((p) => p.name === 'mine')).toMatchObject({ source: 'user', nodes: [{ name: 'game-a', replicas: 4 }] })
      expect(presets).toHaveLength(8)
      const broken = problems.filter((p) => p.file.endsWith('broken.yaml'))
      expect(broken.map((p) => p.field).sort()).toEqual(['nodes.0.name', 'nodes.0.replicas', 'nodes.0.services'])
      expect(problems.find((p) => p.file.endsWith('notyaml.yml'))?.message).toMatch(/not valid YAML/)
    } finally {
      await rm(dir, { recursive: true })
    }
  })
})
