import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RegistryKind, RegistryProcess } from './servers.ts';

/** Berth must beat distribution by `ratioAtLeast`, and/or Berth's own value must stay within `berthAtMost`. */
export interface Target {
  text: string;
  ratioAtLeast?: number;
  berthAtMost?: number;
}

/** One row of the results table: a median per registry over the repetitions. */
export interface Measurement {
  id: string;
  title: string;
  unit: string;
  /** true for throughput (MB/s, req/s), false for times, latencies and memory. */
  higherIsBetter: boolean;
  berth?: number | undefined;
  distribution?: number | undefined;
  runs: Record<RegistryKind, number[]>;
  target?: Target;
  note?: string;
  /**
   * Set when the row compares Berth with Berth, not with distribution: what the
   * distribution column holds instead (e.g. `Berth anonymous`).
   */
  baseline?: string;
}

export interface Scenario {
  name: string;
  description: string;
  /** The registries run.ts starts for it; default both. */
  registryKinds?: readonly RegistryKind[];
  run(context: ScenarioContext): Promise<Measurement[]>;
}

export interface BenchOptions {
  size: number;
  chunkSize: number;
  repeat: number;
  durationSeconds: number;
  repositories: number;
  tags: number;
  images: number;
  imageConcurrency: number;
}

export interface ScenarioContext {
  options: BenchOptions;
  /** Berth and distribution (or the scenario's registryKinds), freshly started for this scenario, in that order. */
  registries: RegistryProcess[];
  /** This scenario's own directory, for any further registry it starts. */
  workDir: string;
  log(message: string): void;
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: Float64Array | number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function measurement(fields: Omit<Measurement, 'berth' | 'distribution'>): Measurement {
  return { ...fields, berth: median(fields.runs.berth), distribution: median(fields.runs.distribution) };
}

export function emptyRuns(): Record<RegistryKind, number[]> {
  return { berth: [], distribution: [] };
}

/** How much better Berth is: >1 means Berth wins, whichever direction the unit goes. */
export function advantage(row: Measurement): number | undefined {
  if (row.berth === undefined || row.distribution === undefined || row.berth === 0 || row.distribution === 0) return undefined;
  return row.higherIsBetter ? row.berth / row.distribution : row.distribution / row.berth;
}

export function targetMet(row: Measurement): boolean | undefined {
  if (!row.target) return undefined;
  const checks: boolean[] = [];
  if (row.target.ratioAtLeast !== undefined) {
    const ratio = advantage(row);
    if (ratio === undefined) return undefined;
    checks.push(ratio >= row.target.ratioAtLeast);
  }
  if (row.target.berthAtMost !== undefined) {
    if (row.berth === undefined) return undefined;
    checks.push(row.berth <= row.target.berthAtMost);
  }
  return checks.every(Boolean);
}

const execFileAsync = promisify(execFile);

/** Flushes dirty pages so one registry's write-back does not land in the other's measurement. */
export async function flushPageCache(): Promise<void> {
  await execFileAsync('sync');
}

/** CPU time this process (the load generator) spent since `since`, as a share of one core over `elapsedSeconds`. */
export function clientCpuShare(since: NodeJS.CpuUsage, elapsedSeconds: number): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6 / elapsedSeconds;
}

export function seconds(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}

/** Runs `worker` on `count` items with at most `concurrency` in flight. */
export async function forEachConcurrently(count: number, concurrency: number, worker: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count && !failed) {
      const index = next++;
      try {
        await worker(index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  });
  await Promise.all(lanes);
}
