export { createHttpServer, type HttpOptions } from './server.ts';
export { parseRange, parseContentRange } from './range.ts';
export { matchV2Route } from './routes.ts';
