import type { ManifestRecord } from '../metadata/index.ts';

/**
 * Manifests by repository and reference, in this process. Writes invalidate per
 * repository, and a read only fills the cache if no write to its repository happened
 * while it was reading, so a stale answer can never be stored. Bounded in bytes.
 */
export class ManifestCache {
  readonly #entries = new Map<string, ManifestRecord>();
  readonly #generations = new Map<string, number>();
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get(repository: string, reference: string): ManifestRecord | undefined {
    const key = `${repository}\n${reference}`;
    const entry = this.#entries.get(key);
    if (entry) {
      // Refresh recency: Map iteration order is insertion order.
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry;
  }

  generation(repository: string): number {
    return this.#generations.get(repository) ?? 0;
  }

  set(repository: string, reference: string, record: ManifestRecord, generationAtRead: number): void {
    if (this.#maxBytes === 0 || record.size > this.#maxBytes / 16) return;
    if (this.generation(repository) !== generationAtRead) return;
    const key = `${repository}\n${reference}`;
    const previous = this.#entries.get(key);
    if (previous) this.#bytes -= previous.size;
    this.#entries.set(key, record);
    this.#bytes += record.size;
    for (const [oldest, value] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= value.size;
    }
  }

  invalidateRepository(repository: string): void {
    this.#generations.set(repository, this.generation(repository) + 1);
    const prefix = `${repository}\n`;
    for (const [key, value] of this.#entries) {
      if (key.startsWith(prefix)) {
        this.#entries.delete(key);
        this.#bytes -= value.size;
      }
    }
  }
}
