import { makeImage, type Image } from '../../test/support/oci.ts';
import { pushImage } from '../oci-client.ts';
import { clientCpuShare, emptyRuns, flushPageCache, forEachConcurrently, measurement, seconds, type Scenario } from '../measurement.ts';

const repositories = 100;

export const smallImagesScenario: Scenario = {
  name: 'images',
  description: `many small images (1 layer + config + manifest, as skopeo pushes: HEAD, POST, PUT per blob) over ${repositories} repositories`,
  async run(context) {
    const { images: count, imageConcurrency: concurrency } = context.options;
    const runs = emptyRuns();
    const clientCpu: number[] = [];
    for (let rep = 1; rep <= context.options.repeat; rep++) {
      for (const registry of context.registries) {
        const images: Image[] = Array.from({ length: count }, () => makeImage({ layerCount: 1 }));
        await flushPageCache();
        const start = performance.now();
        const cpu = process.cpuUsage();
        await forEachConcurrently(count, concurrency, (index) => pushImage(registry, `small/r${rep}-${index % repositories}`, `v${index}`, images[index]!));
        const elapsed = seconds(start);
        const client = clientCpuShare(cpu, elapsed);
        clientCpu.push(client);
        runs[registry.kind].push(count / elapsed);
        context.log(
          `small images ${registry.kind} #${rep}: ${count} in ${elapsed.toFixed(1)} s, ${(count / elapsed).toFixed(0)} images/s, client CPU ${(client * 100).toFixed(0)}% of a core`,
        );
      }
    }
    return [
      measurement({
        id: 'small-images',
        title: `push ${count.toLocaleString('en-US')} small images, c=${concurrency}`,
        unit: 'images/s',
        higherIsBetter: true,
        runs,
        note: `7 requests per image (HEAD, POST, PUT per blob; PUT manifest); the load generator used at most ${(Math.max(...clientCpu) * 100).toFixed(0)}% of one core`,
        target: { text: '≥ 3×', ratioAtLeast: 3 },
      }),
    ];
  },
};
