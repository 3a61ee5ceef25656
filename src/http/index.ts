export { createHttpServer, type HttpOptions } from './server.ts';
export { parseRange, parseContentRange } from './range.ts';
export { matchV2Route } from './routes.ts';
export { TlsSetupError, httpsOptions, watchCertificate, type CertificateReloader, type CertificateReloadOptions, type TlsFiles } from './tls.ts';
