import { makeImage } from '../../test/support/oci.ts';
import { mountBlob, pushImage, putManifest, walkList } from '../oci-client.ts';
import { emptyRuns, forEachConcurrently, measurement, seconds, type Scenario } from '../measurement.ts';

const pageSize = 100;

export function repositoryName(index: number): string {
  return `catalog/repo-${String(index).padStart(5, '0')}`;
}

export const catalogScenario: Scenario = {
  name: 'catalog',
  description: `walk of /v2/_catalog?n=${pageSize} following Link headers over repositories each holding a tiny image`,
  async run(context) {
    const count = context.options.repositories;
    const image = makeImage({ layerCount: 1 });
    for (const registry of context.registries) {
      const start = performance.now();
      await pushImage(registry, repositoryName(0), 'latest', image);
      await forEachConcurrently(count - 1, 16, async (index) => {
        const repository = repositoryName(index + 1);
        for (const blob of [...image.layers, image.config]) await mountBlob(registry, repository, blob, repositoryName(0));
        await putManifest(registry, repository, 'latest', image);
      });
      context.log(`seeded ${count} repositories in ${registry.kind} in ${seconds(start).toFixed(1)} s`);
    }
    // One untimed walk each, so every timed walk finds warm caches.
    for (const registry of context.registries) await walkList(registry, `/v2/_catalog?n=${pageSize}`, 'repositories');
    const runs = emptyRuns();
    for (let rep = 1; rep <= context.options.repeat; rep++) {
      for (const registry of context.registries) {
        const start = performance.now();
        const walk = await walkList(registry, `/v2/_catalog?n=${pageSize}`, 'repositories');
        const elapsed = seconds(start);
        if (walk.items !== count) throw new Error(`${registry.kind} listed ${walk.items} of ${count} repositories`);
        runs[registry.kind].push(elapsed * 1000);
        context.log(`catalog ${registry.kind} #${rep}: ${walk.pages} pages in ${(elapsed * 1000).toFixed(1)} ms`);
      }
    }
    return [
      measurement({
        id: 'catalog',
        title: `_catalog walk, n=${pageSize}, ${count.toLocaleString('en-US')} repositories`,
        unit: 'ms',
        higherIsBetter: false,
        runs,
        target: { text: '≥ 20× faster', ratioAtLeast: 20 },
      }),
    ];
  },
};
