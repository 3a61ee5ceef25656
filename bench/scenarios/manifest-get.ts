import { makeImage } from '../../test/support/oci.ts';
import { request } from '../http-client.ts';
import { getLoop } from '../raw-http.ts';
import { manifestAccept, pushImage } from '../oci-client.ts';
import { clientCpuShare, emptyRuns, measurement, percentile, type Measurement, type Scenario } from '../measurement.ts';

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Share of one core the load generator used. */
  clientCpu: number;
}

/** `concurrency` keep-alive connections GETting the same manifest by tag for `durationMs`; `headers` are added (e.g. Authorization). */
export async function load(target: URL, concurrency: number, durationMs: number, headers: Record<string, string> = {}): Promise<LoadResult> {
  const cpu = process.cpuUsage();
  const { latenciesMs, elapsedSeconds } = await getLoop(target, { accept: manifestAccept, ...headers }, concurrency, durationMs);
  return {
    requestsPerSecond: latenciesMs.length / elapsedSeconds,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    clientCpu: clientCpuShare(cpu, elapsedSeconds),
  };
}

export const manifestGetScenario: Scenario = {
  name: 'manifest',
  description: 'GET /v2/<name>/manifests/<tag> in closed loops at concurrency 1 and 64',
  async run(context) {
    const image = makeImage({ layerCount: 1 });
    const durationMs = context.options.durationSeconds * 1000;
    for (const registry of context.registries) {
      await pushImage(registry, 'bench/manifest', 'latest', image);
      // The timed loops only check status and length; check the bytes once here.
      const response = await request(new URL('/v2/bench/manifest/manifests/latest', registry.base), { headers: { accept: manifestAccept }, agent: registry.agent });
      if (response.status !== 200 || !response.body.equals(image.manifest)) throw new Error(`${registry.kind} did not serve the pushed manifest by tag`);
    }
    const rows: Measurement[] = [];
    for (const concurrency of [1, 64]) {
      const throughput = emptyRuns();
      const p99 = emptyRuns();
      const clientCpu: number[] = [];
      for (const registry of context.registries) await load(new URL('/v2/bench/manifest/manifests/latest', registry.base), concurrency, 500);
      for (let rep = 1; rep <= context.options.repeat; rep++) {
        for (const registry of context.registries) {
          const result = await load(new URL('/v2/bench/manifest/manifests/latest', registry.base), concurrency, durationMs);
          throughput[registry.kind].push(result.requestsPerSecond);
          p99[registry.kind].push(result.p99Ms);
          clientCpu.push(result.clientCpu);
          context.log(
            `manifest GET c=${concurrency} ${registry.kind} #${rep}: ${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, client CPU ${(result.clientCpu * 100).toFixed(0)}% of a core`,
          );
        }
      }
      const high = concurrency === 64;
      rows.push(
        measurement({
          id: `manifest-get-c${concurrency}`,
          title: `manifest GET by tag, c=${concurrency}`,
          unit: 'req/s',
          higherIsBetter: true,
          runs: throughput,
          note: `the load generator used at most ${(Math.max(...clientCpu) * 100).toFixed(0)}% of one core`,
          ...(high ? { target: { text: '≥ 10×', ratioAtLeast: 10 } } : {}),
        }),
        measurement({
          id: `manifest-get-c${concurrency}-p99`,
          title: `manifest GET by tag, c=${concurrency}, p99 latency`,
          unit: 'ms',
          higherIsBetter: false,
          runs: p99,
          ...(high ? { target: { text: 'Berth ≤ 20 ms', berthAtMost: 20 } } : {}),
        }),
      );
    }
    return rows;
  },
};
