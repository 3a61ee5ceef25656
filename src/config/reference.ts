import type { z } from 'zod';
import { configSchema } from './schema.ts';

interface Row {
  key: string;
  type: string;
  fallback: string;
  description: string;
}

interface SchemaDef {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  defaultValue?: unknown;
  shape?: Record<string, z.ZodType>;
  entries?: Record<string, string>;
  element?: z.ZodType;
  options?: z.ZodType[];
}

function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { def: SchemaDef }).def;
}

function typeName(schema: z.ZodType): string {
  const def = defOf(schema);
  switch (def.type) {
    case 'enum':
      return Object.values(def.entries ?? {}).map((v) => `\`${v}\``).join(' \\| ');
    case 'array':
      return `list of ${typeName(def.element!)}`;
    case 'record':
      return 'map';
    case 'union':
      return (def.options ?? []).map(typeName).join(' or ');
    case 'pipe':
      return 'duration';
    default:
      return def.innerType ? typeName(def.innerType) : def.type;
  }
}

function collect(schema: z.ZodType, prefix: string, rows: Row[], description?: string, fallback?: unknown): void {
  const def = defOf(schema);
  const own = description ?? schema.description;
  if (def.type === 'default' || def.type === 'prefault' || def.type === 'optional') {
    const inheritedDefault = def.type === 'default' ? def.defaultValue : fallback;
    collect(def.innerType!, prefix, rows, own, inheritedDefault);
    return;
  }
  if (def.type === 'object') {
    if (own && prefix) rows.push({ key: prefix, type: 'section', fallback: '', description: own });
    for (const [key, child] of Object.entries((schema as z.ZodObject).shape as Record<string, z.ZodType>)) {
      collect(child, prefix ? `${prefix}.${key}` : key, rows);
    }
    return;
  }
  if (def.type === 'pipe') {
    collect(def.in!, prefix, rows, own, fallback);
    rows[rows.length - 1]!.type = 'duration';
    return;
  }
  rows.push({
    key: prefix,
    type: typeName(schema),
    fallback: fallback === undefined ? '' : `\`${JSON.stringify(fallback)}\``,
    description: own ?? '',
  });
}

/** The configuration reference table, generated from the schema so it cannot drift. */
export function renderConfigurationReference(): string {
  const rows: Row[] = [];
  collect(configSchema, '', rows);
  const lines = ['| key | type | default | meaning |', '|---|---|---|---|'];
  for (const row of rows) {
    lines.push(`| \`${row.key}\` | ${row.type} | ${row.fallback} | ${row.description.replace(/\|/g, '\\|')} |`);
  }
  return `${lines.join('\n')}\n`;
}
