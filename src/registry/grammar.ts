import { RegistryError } from './errors.ts';

/**
 * Name, tag and digest grammar of the OCI distribution spec ("Pulling manifests"),
 * defined once. Everything user-supplied passes through here before it reaches a
 * storage key or a query.
 */
const nameComponent = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const namePattern = new RegExp(`^${nameComponent}(?:/${nameComponent})*$`);
const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const uploadIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** distribution caps the whole name at 255 characters; so do we. */
export const MAX_NAME_LENGTH = 255;

export function isValidName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && namePattern.test(name);
}

export function assertValidName(name: string): void {
  if (!isValidName(name)) {
    throw new RegistryError('NAME_INVALID', `invalid repository name "${truncate(name)}"`, {
      detail: { name: truncate(name) },
    });
  }
}

export function isValidTag(tag: string): boolean {
  return tagPattern.test(tag);
}

export function assertValidTag(tag: string): void {
  if (!isValidTag(tag)) {
    throw new RegistryError('TAG_INVALID', `invalid tag "${truncate(tag)}"`, { detail: { tag: truncate(tag) } });
  }
}

export function isValidUploadId(id: string): boolean {
  return uploadIdPattern.test(id);
}

export function truncate(value: string, max = 80): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}
