import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, makeBlob, makeImage, pushBlob, pushImage, putManifest } from '../support/oci.ts';

/** Page size capped at 3 so that "huge n" is observable with few entries. */
let server: TestServer;
after(async () => {
  await server?.close();
});

const TAGS_IN_PUSH_ORDER = ['v2', 'latest', 'v10', '1.0', 'beta', '0', 'v1.2.3-rc_1'];
const TAGS_SORTED = ['0', '1.0', 'beta', 'latest', 'v1.2.3-rc_1', 'v10', 'v2'];
const TAGGED = 'lists/tagged';

before(async () => {
  server = await startTestServer({ config: { limits: { pagesize: 3 } } });
  const image = makeImage({ layerCount: 1 });
  await pushImage(server.url, TAGGED, TAGS_IN_PUSH_ORDER[0]!, image);
  for (const tag of TAGS_IN_PUSH_ORDER.slice(1)) {
    const response = await putManifest(server.url, TAGGED, tag, image.manifest, image.mediaType);
    assert.equal(response.status, 201);
    await response.arrayBuffer();
  }
});

function nextLink(response: Response): URL | undefined {
  const link = response.headers.get('link');
  if (link === null) return undefined;
  const match = /^<([^>]+)>;\s*rel="next"$/.exec(link);
  assert.ok(match, `Link header "${link}" is not <url>; rel="next"`);
  return new URL(match[1]!, server.url);
}

async function tagPage(path: string): Promise<{ response: Response; tags: string[] }> {
  const response = await fetch(`${server.url}${path}`);
  assert.equal(response.status, 200, path);
  const body = (await response.json()) as { name: string; tags: string[] };
  assert.equal(body.name, TAGGED);
  return { response, tags: body.tags };
}

/** Follows rel="next" links from `first`, collecting every page. */
async function walk(first: string, key: 'tags' | 'repositories'): Promise<string[][]> {
  const pages: string[][] = [];
  let url: URL | undefined = new URL(first, server.url);
  while (url) {
    assert.ok(pages.length < 50, 'pagination does not end');
    const response: Response = await fetch(url);
    assert.equal(response.status, 200, url.href);
    const body = (await response.json()) as Record<string, string[]>;
    pages.push(body[key]!);
    url = nextLink(response);
  }
  return pages;
}

test('the tag list is in lexical order, not push order', async () => {
  const { response, tags } = await tagPage(`/v2/${TAGGED}/tags/list?n=3`);
  assert.deepEqual(tags, TAGS_SORTED.slice(0, 3));
  assert.ok(nextLink(response));
  assert.deepEqual((await walk(`/v2/${TAGGED}/tags/list`, 'tags')).flat(), TAGS_SORTED);
});

test('n pages the tag list, with a rel="next" Link until the last page', async () => {
  const pages = await walk(`/v2/${TAGGED}/tags/list?n=2`, 'tags');
  assert.deepEqual(pages, [['0', '1.0'], ['beta', 'latest'], ['v1.2.3-rc_1', 'v10'], ['v2']]);
  const first = await fetch(`${server.url}/v2/${TAGGED}/tags/list?n=2`);
  await first.arrayBuffer();
  const link = nextLink(first)!;
  assert.equal(link.pathname, `/v2/${TAGGED}/tags/list`);
  assert.equal(link.searchParams.get('n'), '2');
  assert.equal(link.searchParams.get('last'), '1.0');
});

test('last starts after the given tag, with or without n', async () => {
  assert.deepEqual((await tagPage(`/v2/${TAGGED}/tags/list?n=2&last=beta`)).tags, ['latest', 'v1.2.3-rc_1']);
  assert.deepEqual((await tagPage(`/v2/${TAGGED}/tags/list?last=v1.2.3-rc_1`)).tags, ['v10', 'v2']);
  assert.deepEqual((await tagPage(`/v2/${TAGGED}/tags/list?last=v2`)).tags, []);
  // A last that is not a tag still positions the page lexically.
  assert.deepEqual((await tagPage(`/v2/${TAGGED}/tags/list?n=2&last=c`)).tags, ['latest', 'v1.2.3-rc_1']);
});

test('n=0 returns an empty tag list and no Link header', async () => {
  const { response, tags } = await tagPage(`/v2/${TAGGED}/tags/list?n=0`);
  assert.deepEqual(tags, []);
  assert.equal(response.headers.get('link'), null);
});

test('a huge n is capped at the configured page size and continues with a Link', async () => {
  const { response, tags } = await tagPage(`/v2/${TAGGED}/tags/list?n=100000000`);
  assert.deepEqual(tags, TAGS_SORTED.slice(0, 3));
  const link = nextLink(response);
  assert.ok(link, 'a capped page links to the next one');
  assert.equal(link.searchParams.get('last'), TAGS_SORTED[2]);
});

test('a negative, fractional or non-numeric n answers 400 PAGINATION_NUMBER_INVALID', async () => {
  for (const n of ['-1', 'abc', '1.5', '1e3', '0x10', '99999999999999999999']) {
    await assertError(await fetch(`${server.url}/v2/${TAGGED}/tags/list?n=${encodeURIComponent(n)}`), 400, 'PAGINATION_NUMBER_INVALID');
    await assertError(await fetch(`${server.url}/v2/_catalog?n=${encodeURIComponent(n)}`), 400, 'PAGINATION_NUMBER_INVALID');
  }
});

test('the tag list of an unknown repository answers 404 NAME_UNKNOWN, whatever n', async () => {
  for (const query of ['', '?n=0', '?n=2', '?last=a']) {
    await assertError(await fetch(`${server.url}/v2/lists/no-such-repository/tags/list${query}`), 404, 'NAME_UNKNOWN');
  }
});

test('a repository with blobs but no tags has an empty tag list', async () => {
  await pushBlob(server.url, 'lists/untagged', makeBlob());
  const response = await fetch(`${server.url}/v2/lists/untagged/tags/list`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { name: 'lists/untagged', tags: [] });
});

test('the catalog lists repositories in lexical order with n/last pagination and Link headers', async () => {
  const catalogServer = await startTestServer({ config: { limits: { pagesize: 3 } } });
  try {
    const names = ['zeta', 'alpha/one', 'alpha', 'b-c/d', 'alpha-two', 'm0'];
    for (const name of names) await pushBlob(catalogServer.url, name, makeBlob());
    const sorted = [...names].sort();
    assert.deepEqual(sorted, ['alpha', 'alpha-two', 'alpha/one', 'b-c/d', 'm0', 'zeta']);

    const pages: string[][] = [];
    let url: URL | undefined = new URL('/v2/_catalog?n=4', catalogServer.url);
    while (url) {
      const response: Response = await fetch(url);
      assert.equal(response.status, 200);
      pages.push(((await response.json()) as { repositories: string[] }).repositories);
      const link = response.headers.get('link');
      url = link ? new URL(/^<([^>]+)>;\s*rel="next"$/.exec(link)![1]!, catalogServer.url) : undefined;
      assert.ok(pages.length < 10);
    }
    // n=4 is above the page size of 3, so pages hold 3.
    assert.deepEqual(pages, [sorted.slice(0, 3), sorted.slice(3, 6)]);

    const two = await fetch(`${catalogServer.url}/v2/_catalog?n=2&last=alpha-two`);
    assert.deepEqual(((await two.json()) as { repositories: string[] }).repositories, ['alpha/one', 'b-c/d']);
    assert.match(two.headers.get('link') ?? '', /^<\/v2\/_catalog\?n=2&last=b-c%2Fd>; rel="next"$/);

    const zero = await fetch(`${catalogServer.url}/v2/_catalog?n=0`);
    assert.deepEqual(await zero.json(), { repositories: [] });
    assert.equal(zero.headers.get('link'), null);

    const huge = await fetch(`${catalogServer.url}/v2/_catalog?n=2000000000`);
    assert.deepEqual(((await huge.json()) as { repositories: string[] }).repositories, sorted.slice(0, 3));
    assert.ok(huge.headers.get('link'));
  } finally {
    await catalogServer.close();
  }
});
