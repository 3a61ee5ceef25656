import { execFileSync } from 'node:child_process';

/**
 * Decides whether a test that needs an external tool or service can run. Locally a missing
 * one skips the test with the reason printed; under CI (BERTH_REQUIRE_SERVICES=1) a skip
 * would hide a broken setup, so it fails instead.
 */
export function requirement(available: boolean, reason: string): string | false {
  if (available) return false;
  if (process.env.BERTH_REQUIRE_SERVICES === '1') {
    throw new Error(`required for this test but missing: ${reason} (BERTH_REQUIRE_SERVICES=1)`);
  }
  process.stderr.write(`# skipping: ${reason}\n`);
  return reason;
}

export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `skip` option for node:test when `command` is not installed. */
export function needsCommand(command: string): string | false {
  return requirement(hasCommand(command), `${command} is not installed`);
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
