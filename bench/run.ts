import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { describeMachine } from './machine.ts';
import type { BenchOptions, Measurement, Scenario } from './measurement.ts';
import { renderTable, writeDocs, writeJson, type BenchResults } from './report.ts';
import { catalogScenario } from './scenarios/catalog.ts';
import { manifestGetScenario } from './scenarios/manifest-get.ts';
import { manifestGetBearerScenario } from './scenarios/manifest-get-bearer.ts';
import { pullScenario } from './scenarios/pull.ts';
import { pushScenario } from './scenarios/push.ts';
import { smallImagesScenario } from './scenarios/small-images.ts';
import { tagsScenario } from './scenarios/tags.ts';
import { projectRoot, registryKinds, startRegistry, stopAllRegistries, type RegistryProcess } from './servers.ts';
import { parseSize } from './units.ts';

const scenarios: Scenario[] = [pushScenario, pullScenario, manifestGetScenario, manifestGetBearerScenario, catalogScenario, tagsScenario, smallImagesScenario];

const usage = `npm run bench -- [options]

Runs Berth (this checkout) and CNCF distribution (${'/usr/bin/docker-registry'}) side by side
and prints Berth's advantage next to the targets.

  --only LIST          scenarios to run, comma-separated (default: all):
${scenarios.map((s) => `                         ${s.name.padEnd(9)} ${s.description}`).join('\n')}
  --size SIZE          large blob size for push and pull (default 1GiB; e.g. 64MiB)
  --chunk SIZE         PATCH chunk size (default 16MiB)
  --repeat N           repetitions of each measurement, median reported (default 3)
  --duration SECONDS   length of each manifest GET run (default 5)
  --repositories N     repositories in the catalog (default 2000)
  --tags N             tags in the tag list repository (default 5000)
  --images N           small images pushed per repetition (default 7000)
  --concurrency N      small image push concurrency (default 16)
  --write-docs         add or replace today's section in docs/benchmarks.md
  --note TEXT          a remark printed in that section (e.g. "machine was loaded")
  --json FILE          results file (default bench/results/latest.json)
  --cpu-prof DIR       run Berth with --cpu-prof, profiles written to DIR
  --keep               keep the data directories (printed at the end)
  -h, --help           this text
`;

/** A mistake on the command line: reported without a stack trace. */
class UsageError extends Error {}

const argumentOptions = {
  only: { type: 'string' },
  size: { type: 'string', default: '1GiB' },
  chunk: { type: 'string', default: '16MiB' },
  repeat: { type: 'string', default: '3' },
  duration: { type: 'string', default: '5' },
  repositories: { type: 'string', default: '2000' },
  tags: { type: 'string', default: '5000' },
  images: { type: 'string', default: '7000' },
  concurrency: { type: 'string', default: '16' },
  'write-docs': { type: 'boolean', default: false },
  note: { type: 'string' },
  json: { type: 'string', default: path.join(projectRoot, 'bench', 'results', 'latest.json') },
  'cpu-prof': { type: 'string' },
  keep: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function readArguments() {
  try {
    return parseArgs({ options: argumentOptions, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function parseOptions() {
  const values = readArguments();
  const count = (name: string, text: string, minimum: number) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < minimum) throw new UsageError(`--${name} must be a whole number ≥ ${minimum}, not "${text}"`);
    return value;
  };
  const names = values.only ? values.only.split(',').map((name) => name.trim()).filter(Boolean) : scenarios.map((s) => s.name);
  for (const name of names) {
    if (!scenarios.some((s) => s.name === name)) throw new UsageError(`unknown scenario "${name}"; choose from ${scenarios.map((s) => s.name).join(', ')}`);
  }
  const size = (name: string, text: string) => {
    try {
      return parseSize(text);
    } catch (error) {
      throw new UsageError(`--${name}: ${(error as Error).message}`);
    }
  };
  const options: BenchOptions = {
    size: size('size', values.size),
    chunkSize: size('chunk', values.chunk),
    repeat: count('repeat', values.repeat, 1),
    durationSeconds: Number(values.duration),
    repositories: count('repositories', values.repositories, 1),
    tags: count('tags', values.tags, 1),
    images: count('images', values.images, 1),
    imageConcurrency: count('concurrency', values.concurrency, 1),
  };
  if (!(options.durationSeconds > 0)) throw new UsageError(`--duration must be a positive number of seconds`);
  return {
    help: values.help,
    options,
    selected: scenarios.filter((s) => names.includes(s.name)),
    writeDocs: values['write-docs'],
    note: values.note,
    jsonFile: path.resolve(values.json),
    cpuProfileDir: values['cpu-prof'] ? path.resolve(values['cpu-prof']) : undefined,
    keep: values.keep,
  };
}

/** `rm -rf`: distribution leaves hundreds of thousands of small files, which fs.rm takes minutes over. */
async function removeTree(directory: string): Promise<void> {
  try {
    await promisify(execFile)('rm', ['-rf', '--', directory]);
  } catch {
    await rm(directory, { recursive: true, force: true });
  }
}

function shellQuote(argument: string): string {
  return /^[\w./,=:@+-]+$/.test(argument) ? argument : `'${argument.replace(/'/g, `'\\''`)}'`;
}

function log(message: string): void {
  const time = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[${time}] ${message}\n`);
}

async function main(): Promise<void> {
  const parsed = parseOptions();
  if (parsed.help) {
    process.stdout.write(usage);
    return;
  }
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-'));
  let interrupted = false;
  const cleanUp = async () => {
    await stopAllRegistries();
    if (parsed.keep) log(`data kept in ${workDir}`);
    else await removeTree(workDir);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping the registries and removing ${workDir}`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = performance.now();
  try {
    const machine = await describeMachine(workDir);
    log(`data in ${workDir}: ${machine.disk}`);
    log(`${machine.cpus} CPUs, ${machine.memoryGiB} GiB, Node ${machine.node}, distribution ${machine.distribution}, load ${machine.loadAverageAtStart.join(' ')}`);
    log(`Berth: ${machine.berth}`);
    const measurements: Measurement[] = [];
    for (const scenario of parsed.selected) {
      log(`scenario ${scenario.name}: ${scenario.description}`);
      const scenarioDir = await mkdtemp(path.join(workDir, `${scenario.name}-`));
      const registries: RegistryProcess[] = [];
      try {
        for (const kind of scenario.registryKinds ?? registryKinds) registries.push(await startRegistry(kind, scenarioDir, { berthCpuProfileDir: parsed.cpuProfileDir }));
        measurements.push(...(await scenario.run({ options: parsed.options, registries, log, workDir: scenarioDir })));
      } finally {
        await Promise.allSettled(registries.map((registry) => registry.stop()));
        if (!parsed.keep) await removeTree(scenarioDir);
      }
    }
    const results: BenchResults = {
      date: new Date().toISOString().slice(0, 10),
      command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2).map(shellQuote)] : [])].join(' '),
      note: parsed.note,
      machine,
      loadAverageAtEnd: os.loadavg().map((value) => Math.round(value * 100) / 100),
      durationSeconds: (performance.now() - started) / 1000,
      options: parsed.options,
      scenarios: parsed.selected.map((s) => s.name),
      measurements,
    };
    process.stdout.write(`\n${renderTable(measurements)}\n\n`);
    await writeJson(parsed.jsonFile, results);
    log(`results written to ${path.relative(process.cwd(), parsed.jsonFile)}`);
    if (parsed.writeDocs) {
      const docs = path.join(projectRoot, 'docs', 'benchmarks.md');
      await writeDocs(docs, results);
      log(`section ${results.date} written to ${path.relative(process.cwd(), docs)}`);
    }
  } finally {
    if (!interrupted) await cleanUp();
  }
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n\n${usage}`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
