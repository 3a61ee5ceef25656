import { makeImage, pushImage as pushImageWithHeaders } from '../../test/support/oci.ts';
import { request } from '../http-client.ts';
import { emptyRuns, measurement, type Measurement, type Scenario } from '../measurement.ts';
import { manifestAccept, pushImage } from '../oci-client.ts';
import { startRegistry, type RegistryProcess } from '../servers.ts';
import { load } from './manifest-get.ts';

const USER = 'bench';
const PASSWORD = 'bench-password';
const REPOSITORY = 'bench/manifest';
const CONCURRENCY = 64;

/** A token from the built-in token service (GET /auth/token with Basic credentials). */
async function fetchToken(registry: RegistryProcess, scope: string): Promise<string> {
  const query = new URLSearchParams({ service: 'berth-bench', scope });
  const response = await request(new URL(`/auth/token?${query}`, registry.base), {
    headers: { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` },
    agent: registry.agent,
  });
  if (response.status !== 200) throw new Error(`GET /auth/token answered ${response.status}: ${response.body.toString('utf8').slice(0, 300)}`);
  const { token } = JSON.parse(response.body.toString('utf8')) as { token: string };
  return token;
}

/**
 * Done-when 5 of issue 3: what verifying bearer tokens costs. The same closed loop as the
 * `manifest` scenario at c=64, against a Berth with htpasswd and the built-in token service
 * (one pull token, fetched once, sent on every request) and against a Berth without auth.
 * Berth against Berth: distribution is not started.
 */
export const manifestGetBearerScenario: Scenario = {
  name: 'bearer',
  description: `manifest GET at c=${CONCURRENCY} with a bearer token vs anonymous (Berth vs Berth)`,
  registryKinds: ['berth'],
  async run(context) {
    const anonymous = context.registries[0]!;
    const bearer = await startRegistry('berth', context.workDir, { tokenAuth: { user: USER, password: PASSWORD } });
    try {
      const image = makeImage({ layerCount: 1 });
      await pushImage(anonymous, REPOSITORY, 'latest', image);
      const pushToken = await fetchToken(bearer, `repository:${REPOSITORY}:pull,push`);
      const pushed = await pushImageWithHeaders(bearer.base.href.replace(/\/$/, ''), REPOSITORY, 'latest', image, { authorization: `Bearer ${pushToken}` });
      await pushed.body?.cancel();
      if (pushed.status !== 201) throw new Error(`pushing to the Berth with tokens answered ${pushed.status}`);
      const headers = { authorization: `Bearer ${await fetchToken(bearer, `repository:${REPOSITORY}:pull`)}` };
      const target = (registry: RegistryProcess) => new URL(`/v2/${REPOSITORY}/manifests/latest`, registry.base);
      // The timed loops only check status and length; check the bytes once here.
      for (const [registry, extra] of [[anonymous, {}], [bearer, headers]] as const) {
        const response = await request(target(registry), { headers: { accept: manifestAccept, ...extra }, agent: registry.agent });
        if (response.status !== 200 || !response.body.equals(image.manifest)) throw new Error(`Berth ${registry === bearer ? 'with tokens' : 'anonymous'} did not serve the pushed manifest (${response.status})`);
      }

      await load(target(anonymous), CONCURRENCY, 500);
      await load(target(bearer), CONCURRENCY, 500, headers);
      // `berth`: with tokens; `distribution`: the anonymous Berth (see `baseline`).
      const throughput = emptyRuns();
      const p99 = emptyRuns();
      const clientCpu: number[] = [];
      const durationMs = context.options.durationSeconds * 1000;
      for (let rep = 1; rep <= context.options.repeat; rep++) {
        for (const [kind, registry, extra] of [['distribution', anonymous, {}], ['berth', bearer, headers]] as const) {
          const result = await load(target(registry), CONCURRENCY, durationMs, extra);
          throughput[kind].push(result.requestsPerSecond);
          p99[kind].push(result.p99Ms);
          clientCpu.push(result.clientCpu);
          context.log(
            `manifest GET c=${CONCURRENCY} Berth ${kind === 'berth' ? 'bearer' : 'anonymous'} #${rep}: ${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, client CPU ${(result.clientCpu * 100).toFixed(0)}% of a core`,
          );
        }
      }
      const rows: Measurement[] = [
        measurement({
          id: `manifest-get-bearer-c${CONCURRENCY}`,
          title: `manifest GET by tag with a bearer token, c=${CONCURRENCY}`,
          unit: 'req/s',
          higherIsBetter: true,
          runs: throughput,
          baseline: 'Berth anonymous',
          note: `Berth with the built-in token service against Berth without auth (no distribution); the load generator used at most ${(Math.max(...clientCpu) * 100).toFixed(0)}% of one core`,
          target: { text: '≥ 0.8× of anonymous', ratioAtLeast: 0.8 },
        }),
        measurement({
          id: `manifest-get-bearer-c${CONCURRENCY}-p99`,
          title: `manifest GET by tag with a bearer token, c=${CONCURRENCY}, p99 latency`,
          unit: 'ms',
          higherIsBetter: false,
          runs: p99,
          baseline: 'Berth anonymous',
        }),
      ];
      return rows;
    } finally {
      await bearer.stop();
    }
  },
};
