import type { FastifyRequest } from 'fastify';
import { RegistryError, type ListPage } from '../../registry/index.ts';
import { queryOf, type Handler } from './context.ts';

function pageRequest(request: FastifyRequest): { n: number | undefined; last: string | undefined } {
  const query = queryOf(request);
  const n = query.get('n');
  let parsed: number | undefined;
  if (n !== null && n !== '') {
    if (!/^-?\d{1,15}$/.test(n)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n=${n.slice(0, 20)} is not a whole number`);
    parsed = Number(n);
  }
  return { n: parsed, last: query.get('last') ?? undefined };
}

/** RFC 8288 `Link` to the next page, as the spec's pagination describes. */
function nextLink(path: string, page: ListPage, n: number | undefined): string | undefined {
  if (page.next === undefined) return undefined;
  const query = new URLSearchParams();
  if (n !== undefined) query.set('n', String(n));
  query.set('last', page.next);
  return `<${path}?${query.toString()}>; rel="next"`;
}

/** `visible`: only repositories the caller may pull are listed (undefined: all). */
export const getCatalog: Handler<{ kind: 'catalog'; visible?: ((repository: string) => boolean) | undefined }> = async ({ registry, baseUrl }, route, request, reply) => {
  const { n, last } = pageRequest(request);
  const page = await registry.catalog(n, last, route.visible);
  const link = nextLink(`${baseUrl}/v2/_catalog`, page, n);
  if (link) reply.header('link', link);
  return reply.code(200).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify({ repositories: page.items }));
};

export const getTags: Handler<{ name: string }> = async ({ registry, baseUrl }, route, request, reply) => {
  const { n, last } = pageRequest(request);
  const page = await registry.tags(route.name, n, last);
  const link = nextLink(`${baseUrl}/v2/${route.name}/tags/list`, page, n);
  if (link) reply.header('link', link);
  return reply.code(200).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify({ name: route.name, tags: page.items }));
};
