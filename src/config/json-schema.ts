import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema } from './schema.js';

/** JSON Schema of the YAML file as a user writes it (inputs, defaults optional), for editors. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://btg-gateway.local/gateway.schema.json',
    title: 'btg-gateway configuration',
  };
}

export function writeConfigJsonSchema(path: string): void {
  writeFileSync(path, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
}
