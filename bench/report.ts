import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MachineInfo } from './machine.ts';
import { advantage, targetMet, type BenchOptions, type Measurement } from './measurement.ts';
import { formatNumber } from './units.ts';

export interface BenchResults {
  date: string;
  command: string;
  note?: string | undefined;
  machine: MachineInfo;
  loadAverageAtEnd: number[];
  durationSeconds: number;
  options: BenchOptions;
  scenarios: string[];
  measurements: Measurement[];
}

const headings = ['measurement', 'unit', 'Berth', 'distribution', 'Berth vs distribution', 'target', 'met'];

function cells(row: Measurement): string[] {
  const ratio = advantage(row);
  const met = targetMet(row);
  return [
    row.title,
    row.unit,
    formatNumber(row.berth),
    row.baseline ? `${formatNumber(row.distribution)} (${row.baseline})` : formatNumber(row.distribution),
    ratio === undefined ? 'n/a' : row.baseline ? `${ratio.toFixed(2)}× of ${row.baseline}` : `${ratio.toFixed(2)}×`,
    row.target?.text ?? '',
    met === undefined ? (row.target ? 'n/a' : '') : met ? 'yes' : 'NO',
  ];
}

/** The results as an aligned plain-text table for the terminal. */
export function renderTable(rows: Measurement[]): string {
  const table = [headings, ...rows.map(cells)];
  const widths = headings.map((_, column) => Math.max(...table.map((line) => line[column]!.length)));
  const numeric = new Set([2, 3, 4]);
  const format = (line: string[]) => line.map((cell, column) => (numeric.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join('  ');
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  const notes = rows.filter((row) => row.note).map((row) => `  note (${row.title}): ${row.note}`);
  return [format(headings), rule, ...table.slice(1).map(format), ...(notes.length ? ['', ...notes] : [])].join('\n');
}

export function renderMarkdownTable(rows: Measurement[]): string {
  const lines = [`| ${headings.join(' | ')} |`, `|${headings.map((_, i) => (i >= 2 && i <= 4 ? '---:' : '---')).join('|')}|`];
  for (const row of rows) lines.push(`| ${cells(row).join(' | ')} |`);
  return lines.join('\n');
}

export async function writeJson(file: string, results: BenchResults): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
}

const sectionStart = (date: string) => `<!-- bench-run ${date} -->`;
const sectionEnd = '<!-- /bench-run -->';

function renderSection(results: BenchResults): string {
  const { machine } = results;
  const ratioNote = '"Berth vs distribution" is how many times better Berth is: its throughput over distribution\'s, or distribution\'s time, latency or memory over Berth\'s.';
  const lines = [
    sectionStart(results.date),
    `### ${results.date}`,
    '',
    `\`${results.command}\` — ${Math.round(results.durationSeconds)} s, scenarios: ${results.scenarios.join(', ')}, ${results.options.repeat === 1 ? 'one repetition' : `${results.options.repeat} repetitions (medians shown)`}.`,
    '',
    `- Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB memory, ${machine.kernel}`,
    `- Disk (both data directories): ${machine.disk}`,
    `- Node.js ${machine.node} (Berth and the load generator); Berth: ${machine.berth}; distribution ${machine.distribution}`,
    `- Load average (1, 5, 15 min) at start ${machine.loadAverageAtStart.join(', ')}, at end ${results.loadAverageAtEnd.join(', ')}`,
  ];
  if (results.note) lines.push(`- Note: ${results.note}`);
  lines.push('', renderMarkdownTable(results.measurements), '', ratioNote);
  const notes = results.measurements.filter((row) => row.note);
  if (notes.length) lines.push('', ...notes.map((row) => `- ${row.title}: ${row.note}`));
  lines.push(sectionEnd);
  return lines.join('\n');
}

/** Replaces the section of the same date in the benchmarks document, or appends one. */
export async function writeDocs(file: string, results: BenchResults): Promise<void> {
  const document = await readFile(file, 'utf8');
  const section = renderSection(results);
  const start = document.indexOf(sectionStart(results.date));
  let updated: string;
  if (start !== -1) {
    const end = document.indexOf(sectionEnd, start);
    if (end === -1) throw new Error(`${file}: the section for ${results.date} has no end marker "${sectionEnd}"`);
    updated = document.slice(0, start) + section + document.slice(end + sectionEnd.length);
  } else {
    updated = `${document.trimEnd()}${os.EOL}${os.EOL}${section}${os.EOL}`;
  }
  await writeFile(file, updated);
}
