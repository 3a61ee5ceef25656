import { clientRules, credentialClientSuites } from './credential-clients-suite.ts';

// Real skopeo and podman against an in-process Berth with an htpasswd file (HTTP Basic on
// every request) and access rules.
credentialClientSuites({
  name: 'htpasswd',
  config: (htpasswd) => ({ auth: { htpasswd: { realm: 'berth', path: htpasswd } }, access: { rules: clientRules } }),
  pushDenied: /denied|403/i,
});
