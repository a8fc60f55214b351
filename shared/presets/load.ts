import * as v from 'valibot'
import type { Context } from '../context.ts'
import { BUILTIN_PRESETS } from '../../presets/builtin.generated.ts'
import { Preset, type ResolvedPreset } from './schema.ts'
import { errorMessage } from '../errors.ts'

export interface PresetProblem {
  file: string
  field: string
  message: string
}

export interface PresetCatalog {
  presets: ResolvedPreset[]
  problems: PresetProblem[]
}

const nameOf = (file: string) => file.replace(/^.*\//, '').replace(/\.ya?ml$/, '')

/**
 * Validates one parsed preset document; problems name the file and the field. YAML parsing
 * happens where files are read (build time for built-ins, the Node platform for user files),
 * so edge bundles carry no YAML parser.
 */
export function parsePresetDocument(file: string, doc: unknown, source: ResolvedPreset['source']): ResolvedPreset | PresetProblem[] {
  const result = v.safeParse(Preset, doc)
  if (!result.success) {
    return result.issues.map((i) => ({
      file,
      field: i.path?.map((p) => String(p.key)).join('.') || '(document)',
      message: i.message,
    }))
  }
  const p = result.output
  return {
    name: p.name ?? nameOf(file),
    description: p.description ?? '',
    source,
    file,
    nodes: p.nodes.map((n) => ({ ...n, daprAppId: n.daprAppId ?? n.name })),
    infrastructure: p.infrastructure ?? {},
  }
}

/** Built-ins first; a user preset with the same name replaces the built-in. */
export async function loadPresets(ctx: Pick<Context, 'config' | 'platform'>): Promise<PresetCatalog> {
  const byName = new Map<string, ResolvedPreset>()
  const problems: PresetProblem[] = []
  const add = (file: string, doc: unknown, source: ResolvedPreset['source']) => {
    const r = parsePresetDocument(file, doc, source)
    if (Array.isArray(r)) problems.push(...r)
    else byName.set(r.name, r)
  }
  for (const [file, doc] of Object.entries(BUILTIN_PRESETS)) add(file, doc, 'builtin')
  const dir = ctx.config.presetsDirectory
  if (dir) {
    if (!ctx.platform.readPresetFiles) {
      problems.push({ file: dir, field: '(directory)', message: `the ${ctx.platform.name} runtime cannot read a presets directory` })
    } else {
      try {
        for (const f of await ctx.platform.readPresetFiles(dir)) {
          if ('error' in f) problems.push({ file: f.file, field: '(document)', message: f.error })
          else add(f.file, f.document, 'user')
        }
      } catch (e) {
        problems.push({ file: dir, field: '(directory)', message: errorMessage(e) })
      }
    }
  }
  return { presets: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)), problems }
}
