import type { Reply } from './types.ts'

/** Decoders for raw replies; one place, so every driver yields the same shapes. */
export const asString = (r: Reply): string | null => (r === null ? null : typeof r === 'number' ? String(r) : typeof r === 'string' ? r : null)

export const asNumber = (r: Reply): number => (typeof r === 'number' ? r : typeof r === 'string' ? Number(r) : 0)

export const asArray = (r: Reply): Reply[] => (Array.isArray(r) ? r : [])

export function asHash(r: Reply): Record<string, string> {
  if (r !== null && typeof r === 'object' && !Array.isArray(r)) return r as Record<string, string>
  const flat = asArray(r)
  const out: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1])
  return out
}

/** Decodes `... WITHSCORES` replies. */
export function asScored(r: Reply): { member: string; score: number }[] {
  const flat = asArray(r)
  const out: { member: string; score: number }[] = []
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ member: String(flat[i]), score: Number(flat[i + 1]) })
  return out
}

export function parseJson(text: string | null): { ok: true; value: unknown } | { ok: false; error: string } {
  if (text === null) return { ok: false, error: 'missing' }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : 'unparseable JSON' }
  }
}
