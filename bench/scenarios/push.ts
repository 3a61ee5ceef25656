import { pushChunked, pushMonolithic } from '../oci-client.ts';
import { clientCpuShare, emptyRuns, flushPageCache, measurement, seconds, type Measurement, type Scenario, type ScenarioContext } from '../measurement.ts';
import { LargeBlobFamily, type LargeBlob } from '../payload.ts';
import { sampleRss, type RegistryProcess } from '../servers.ts';
import { formatBytes } from '../units.ts';

function megabytes(bytes: number | undefined): string {
  return bytes === undefined ? 'n/a' : `${(bytes / 1e6).toFixed(0)} MB`;
}

type Push = (registry: RegistryProcess, blob: LargeBlob) => Promise<void>;

/** Times `push` for each registry in turn, `repeat` times, sampling the server's RSS meanwhile. */
async function measurePushes(context: ScenarioContext, family: LargeBlobFamily, label: string, push: Push) {
  const throughput = emptyRuns();
  const peakRss = emptyRuns();
  const rssBeforeFirst = emptyRuns();
  const clientCpu: number[] = [];
  for (let rep = 1; rep <= context.options.repeat; rep++) {
    for (const registry of context.registries) {
      const blob = family.create();
      await flushPageCache();
      const rss = sampleRss(registry.pid);
      const rssBefore = rss.initial;
      if (rep === 1) rssBeforeFirst[registry.kind].push(rssBefore);
      const start = performance.now();
      const cpu = process.cpuUsage();
      try {
        await push(registry, blob);
      } finally {
        peakRss[registry.kind].push(rss.stop());
      }
      const elapsed = seconds(start);
      const client = clientCpuShare(cpu, elapsed);
      clientCpu.push(client);
      throughput[registry.kind].push(blob.size / 1e6 / elapsed);
      context.log(
        `${label} ${registry.kind} #${rep}: ${(blob.size / 1e6 / elapsed).toFixed(0)} MB/s, client CPU ${(client * 100).toFixed(0)}% of a core, ` +
          `peak RSS ${megabytes(peakRss[registry.kind].at(-1))} (${megabytes(rssBefore)} before)`,
      );
    }
  }
  return { throughput, peakRss, rssBeforeFirst, clientNote: `the load generator used at most ${(Math.max(...clientCpu) * 100).toFixed(0)}% of one core` };
}

export const pushScenario: Scenario = {
  name: 'push',
  description: 'one large blob pushed monolithically (POST + one PUT ?digest=) and in PATCH chunks, with peak server RSS',
  async run(context) {
    const { size, chunkSize } = context.options;
    const family = new LargeBlobFamily(size);
    const sizeText = formatBytes(size);
    context.log(`hashing the ${sizeText} blob prefix once`);
    family.create();

    const monolithic = await measurePushes(context, family, 'monolithic push', (registry, blob) => pushMonolithic(registry, 'bench/push', { digest: blob.digest, body: blob }));
    const chunked = await measurePushes(context, family, 'chunked push', (registry, blob) => pushChunked(registry, 'bench/push-chunked', blob, chunkSize));

    const rssTarget = { text: 'Berth < 150 MB', berthAtMost: 150 };
    const rssNote = (pushes: typeof monolithic) =>
      `VmRSS sampled every 50 ms, highest sample over all repetitions; before the first push Berth had ${megabytes(pushes.rssBeforeFirst.berth[0])}, distribution ${megabytes(pushes.rssBeforeFirst.distribution[0])}`;
    const rows: Measurement[] = [
      measurement({
        id: 'push-monolithic',
        title: `${sizeText} monolithic push`,
        unit: 'MB/s',
        higherIsBetter: true,
        runs: monolithic.throughput,
        note: monolithic.clientNote,
        target: { text: '≥ 1.7×', ratioAtLeast: 1.7 },
      }),
      measurement({
        id: 'push-chunked',
        title: `${sizeText} push in ${formatBytes(chunkSize)} PATCH chunks`,
        unit: 'MB/s',
        higherIsBetter: true,
        runs: chunked.throughput,
        note: chunked.clientNote,
        target: { text: '≥ 1.7×', ratioAtLeast: 1.7 },
      }),
      measurement({
        id: 'rss-push-monolithic',
        title: `peak RSS, ${sizeText} monolithic push`,
        unit: 'MB',
        higherIsBetter: false,
        runs: { berth: [Math.max(...monolithic.peakRss.berth) / 1e6], distribution: [Math.max(...monolithic.peakRss.distribution) / 1e6] },
        target: rssTarget,
        note: rssNote(monolithic),
      }),
      measurement({
        id: 'rss-push-chunked',
        title: `peak RSS, ${sizeText} chunked push`,
        unit: 'MB',
        higherIsBetter: false,
        runs: { berth: [Math.max(...chunked.peakRss.berth) / 1e6], distribution: [Math.max(...chunked.peakRss.distribution) / 1e6] },
        target: rssTarget,
        note: rssNote(chunked),
      }),
    ];
    return rows;
  },
};
