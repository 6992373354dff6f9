import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { substituteEnv } from './env-substitution.js';
import { configSchema, type GatewayConfig } from './schema.js';

/** Every problem found in a configuration, each as `key.path: what is wrong`. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid configuration ${source}:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfigFile(file: string, env: Env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read file: ${(err as Error).message}`]);
  }
  return parseConfigText(text, file, env);
}

export function parseConfigText(text: string, source: string, env: Env): GatewayConfig {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(source, document.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`));
  }
  return validateConfig(document.toJS() ?? {}, source, env);
}

export function validateConfig(tree: unknown, source: string, env: Env): GatewayConfig {
  const substituted = substituteEnv(tree, env);
  const problems = substituted.errors.map((e) => `${e.path}: ${e.message}`);
  const result = configSchema.safeParse(substituted.value, { reportInput: true });
  if (!result.success) problems.push(...result.error.issues.flatMap(describeIssue));
  if (problems.length > 0 || !result.success) throw new ConfigError(source, problems);
  return deepFreeze(result.data);
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const at = issue.path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`))
    .join('');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${at ? `${at}.` : ''}${key}: unknown key`);
  }
  return [`${at || '(root)'}: ${plainMessage(issue)}`];
}

function plainMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    return issue.input === undefined ? `required (expected ${issue.expected})` : `expected ${issue.expected}`;
  }
  return issue.message.replace(/^(Invalid input|Too small|Too big|Invalid option): /, '');
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
