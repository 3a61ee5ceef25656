/** What a /v2 path asks for; names and references are decoded but not yet validated. */
export type V2Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'referrers'; name: string; digest: string };

// Repository names contain slashes, so each route is matched from its fixed tail.
const patterns: Array<[RegExp, (m: RegExpExecArray) => V2Route]> = [
  [/^(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1]! })],
  [/^(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1]! })],
  [/^(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1]!, id: m[2]! })],
  [/^(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
  [/^(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
];

/** Matches the part of the path after `/v2/`; undefined when no route fits. */
export function matchV2Route(tail: string): V2Route | undefined {
  if (tail === '') return { kind: 'base' };
  if (tail === '_catalog') return { kind: 'catalog' };
  if (tail.length > 2048) return undefined;
  for (const [pattern, build] of patterns) {
    const match = pattern.exec(tail);
    if (match) return decodeRoute(build(match));
  }
  return undefined;
}

function decodeRoute(route: V2Route): V2Route | undefined {
  try {
    const decoded: Record<string, string> = {};
    for (const [key, value] of Object.entries(route)) decoded[key] = key === 'kind' ? value : decodeURIComponent(value);
    return decoded as unknown as V2Route;
  } catch {
    return undefined;
  }
}
