import { makeImage } from '../../test/support/oci.ts';
import { pushImage, putManifest, walkList } from '../oci-client.ts';
import { emptyRuns, forEachConcurrently, measurement, seconds, type Measurement, type Scenario } from '../measurement.ts';

const pageSize = 100;
const repository = 'bench/tags';

function tagName(index: number): string {
  return `t${String(index).padStart(5, '0')}`;
}

export const tagsScenario: Scenario = {
  name: 'tags',
  description: `tag list of one repository: whole list, and paginated with n=${pageSize} following Link headers`,
  async run(context) {
    const count = context.options.tags;
    const image = makeImage({ layerCount: 1 });
    for (const registry of context.registries) {
      const start = performance.now();
      await pushImage(registry, repository, tagName(0), image);
      await forEachConcurrently(count - 1, 16, (index) => putManifest(registry, repository, tagName(index + 1), image));
      context.log(`tagged ${count} times in ${registry.kind} in ${seconds(start).toFixed(1)} s`);
    }
    // One untimed walk each, so every timed walk finds warm caches.
    for (const registry of context.registries) await walkList(registry, `/v2/${repository}/tags/list?n=${pageSize}`, 'tags');
    const whole = emptyRuns();
    const paged = emptyRuns();
    const paginationIgnored = new Set<string>();
    for (let rep = 1; rep <= context.options.repeat; rep++) {
      for (const registry of context.registries) {
        // Without n a registry may still page (Berth caps pages at limits.pagesize), so follow links here too.
        let start = performance.now();
        const all = await walkList(registry, `/v2/${repository}/tags/list`, 'tags');
        whole[registry.kind].push(seconds(start) * 1000);
        if (all.items !== count) throw new Error(`${registry.kind} listed ${all.items} of ${count} tags`);

        start = performance.now();
        const walk = await walkList(registry, `/v2/${repository}/tags/list?n=${pageSize}`, 'tags');
        const elapsed = seconds(start) * 1000;
        if (walk.firstPage > pageSize) paginationIgnored.add(registry.kind);
        else {
          if (walk.items !== count) throw new Error(`${registry.kind} listed ${walk.items} of ${count} tags in pages`);
          paged[registry.kind].push(elapsed);
        }
        context.log(
          `tags ${registry.kind} #${rep}: whole list ${whole[registry.kind].at(-1)!.toFixed(1)} ms (${all.pages} page(s)), n=${pageSize} ${walk.pages} page(s) in ${elapsed.toFixed(1)} ms${walk.firstPage > pageSize ? ' (n ignored)' : ''}`,
        );
      }
    }
    const rows: Measurement[] = [
      measurement({ id: 'tags-whole', title: `tag list, ${count.toLocaleString('en-US')} tags, whole list`, unit: 'ms', higherIsBetter: false, runs: whole }),
      measurement({
        id: 'tags-paginated',
        title: `tag list, ${count.toLocaleString('en-US')} tags, n=${pageSize} pages`,
        unit: 'ms',
        higherIsBetter: false,
        runs: paged,
        ...(paginationIgnored.size > 0 ? { note: `${[...paginationIgnored].join(', ')} ignored n and returned every tag on one page` } : {}),
      }),
    ];
    return rows;
  },
};
