/**
 * Repository patterns in access rules, matched component by component (components are
 * separated by `/`):
 * - `*` inside a component matches any run of characters within that component
 *   (`team/*`, `team/app-*`), never a `/`;
 * - a whole component `**` matches any number of components, none included (`**`,
 *   `team/**` which also matches `team`, `**` + `/cache`);
 * - every other character matches itself.
 */
export type RepositoryMatcher = (repository: string) => boolean;

type ComponentMatcher = '**' | ((component: string) => boolean);

export function compileRepositoryPattern(pattern: string): RepositoryMatcher {
  const problem = repositoryPatternProblem(pattern);
  if (problem) throw new Error(problem);
  if (pattern === '**') return () => true;
  const parts: ComponentMatcher[] = [];
  for (const component of pattern.split('/')) {
    if (component === '**') {
      if (parts[parts.length - 1] !== '**') parts.push('**');
    } else if (!component.includes('*')) {
      parts.push((candidate) => candidate === component);
    } else {
      const expression = new RegExp(`^${component.split('*').map(escapeRegExp).join('.*')}$`, 's');
      parts.push((candidate) => expression.test(candidate));
    }
  }
  return (repository) => matchComponents(parts, repository.split('/'));
}

/** Matches with a table over (pattern part, name component) so several `**` stay linear-ish. */
function matchComponents(parts: ComponentMatcher[], components: string[]): boolean {
  // reachable[j]: the parts seen so far can consume exactly the first j components.
  let reachable = new Array<boolean>(components.length + 1).fill(false);
  reachable[0] = true;
  for (const part of parts) {
    const next = new Array<boolean>(components.length + 1).fill(false);
    if (part === '**') {
      let any = false;
      for (let j = 0; j <= components.length; j++) {
        any ||= reachable[j]!;
        next[j] = any;
      }
    } else {
      for (let j = 0; j < components.length; j++) if (reachable[j] && part(components[j]!)) next[j + 1] = true;
    }
    reachable = next;
  }
  return reachable[components.length]!;
}

function escapeRegExp(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Why a pattern is unusable, or undefined when it is fine. */
export function repositoryPatternProblem(pattern: string): string | undefined {
  if (pattern === '') return 'a repository pattern must not be empty';
  for (const component of pattern.split('/')) {
    if (component === '') return `"${pattern}" has an empty path component`;
    if (component.includes('**') && component !== '**') return `"${pattern}": ** must be a whole path component`;
  }
  return undefined;
}
