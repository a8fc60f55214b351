import { parse } from 'yaml'
import { parsePresetDocument, type PresetProblem } from './load.ts'
import type { ResolvedPreset } from './schema.ts'

/** YAML text -> document, or the first line of the parser's complaint. Node-side only. */
export function parseYamlDocument(text: string): { document: unknown } | { error: string } {
  try {
    return { document: parse(text) }
  } catch (e) {
    return { error: `not valid YAML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` }
  }
}

export function parsePreset(file: string, text: string, source: ResolvedPreset['source']): ResolvedPreset | PresetProblem[] {
  const r = parseYamlDocument(text)
  return 'error' in r ? [{ file, field: '(document)', message: r.error }] : parsePresetDocument(file, r.document, source)
}
