import assert from 'node:assert/strict';
import { clientRules, credentialClientSuites } from './credential-clients-suite.ts';

// Real skopeo and podman against an in-process Berth in token mode: they follow the Bearer
// challenge to /auth/token with the credentials they are given, then use the token on /v2.
credentialClientSuites({
  name: 'token mode',
  config: (htpasswd) => ({ auth: { htpasswd: { path: htpasswd }, tokenservice: { service: 'berth-clients' } }, access: { rules: clientRules } }),
  // A pull-only user gets a pull-only token: the push answers 401 insufficient_scope.
  pushDenied: /unauthorized|authentication required|denied|401|403/i,
  checkRequests(requests) {
    const tokenRequests = requests.filter((request) => request.url.startsWith('/auth/token'));
    assert.ok(tokenRequests.length >= 2, 'skopeo fetched tokens');
    assert.ok(tokenRequests.every((request) => request.status === 200));
  },
});
