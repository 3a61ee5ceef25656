import { pushMonolithic } from '../oci-client.ts';
import { download } from '../raw-http.ts';
import { clientCpuShare, emptyRuns, flushPageCache, measurement, seconds, type Scenario } from '../measurement.ts';
import { LargeBlobFamily } from '../payload.ts';
import { formatBytes } from '../units.ts';

export const pullScenario: Scenario = {
  name: 'pull',
  description: 'GET of one large blob (page cache warm for both registries)',
  async run(context) {
    const { size } = context.options;
    const blob = new LargeBlobFamily(size).create();
    for (const registry of context.registries) await pushMonolithic(registry, 'bench/pull', { digest: blob.digest, body: blob });
    await flushPageCache();
    const runs = emptyRuns();
    const clientCpu: number[] = [];
    for (let rep = 1; rep <= context.options.repeat; rep++) {
      for (const registry of context.registries) {
        const start = performance.now();
        const cpu = process.cpuUsage();
        const { status, bytes } = await download(new URL(`/v2/bench/pull/blobs/${blob.digest}`, registry.base));
        if (status !== 200) throw new Error(`GET blob on ${registry.kind} answered ${status}`);
        const elapsed = seconds(start);
        const client = clientCpuShare(cpu, elapsed);
        clientCpu.push(client);
        if (bytes !== size) throw new Error(`${registry.kind} served ${bytes} bytes of a ${size}-byte blob`);
        runs[registry.kind].push(size / 1e6 / elapsed);
        context.log(`pull ${registry.kind} #${rep}: ${(size / 1e6 / elapsed).toFixed(0)} MB/s, client CPU ${(client * 100).toFixed(0)}% of a core`);
      }
    }
    return [
      measurement({
        id: 'pull',
        title: `${formatBytes(size)} pull`,
        unit: 'MB/s',
        higherIsBetter: true,
        runs,
        note: `the load generator used at most ${(Math.max(...clientCpu) * 100).toFixed(0)}% of one core`,
        target: { text: '≥ 1.0×', ratioAtLeast: 1.0 },
      }),
    ];
  },
};
