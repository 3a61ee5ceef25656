import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { berthCode, distributionBinary, nodeFlags } from './servers.ts';

const execFileAsync = promisify(execFile);

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  distribution: string;
  /** What bin/berth.js runs and with which Node flags. */
  berth: string;
  /** `df -T` of the folder holding both registries' data. */
  disk: string;
  loadAverageAtStart: number[];
}

async function output(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args);
    return stdout.trim();
  } catch (error) {
    return `unknown (${(error as Error).message.split('\n')[0]})`;
  }
}

export async function describeMachine(dataDir: string): Promise<MachineInfo> {
  const df = await output('df', ['-T', '-h', dataDir]);
  const fields = df.split('\n')[1]?.trim().split(/\s+/) ?? [];
  const disk = fields.length >= 7 ? `${fields[0]} (${fields[1]}, ${fields[2]}, ${fields[4]} free) mounted on ${fields[6]}` : df;
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    // `docker-registry --version` prints "<argv0> <module path> <version>"
    distribution: (await output(distributionBinary, ['--version'])).split(/\s+/).slice(1).reverse().join(' '),
    berth: `bin/berth.js ${nodeFlags().join(' ')} running ${berthCode()}`,
    disk,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
  };
}
