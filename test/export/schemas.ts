/**
 * @module test/export/schemas
 * The export JSON Schemas of docs/schemas, compiled once with their shared parts (provenance),
 * so every test validates lines the way a consumer of the published schemas would.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

const dir = new URL('../../docs/schemas/', import.meta.url);
const read = (name: string): object => JSON.parse(readFileSync(new URL(`${name}.schema.json`, dir), 'utf8'));

export const schemaAjv = new Ajv2020({ strict: false, allErrors: true });
schemaAjv.addSchema(read('provenance'));

const compiled = new Map<string, ValidateFunction>();

/** The validator of one export format's schema (docs/schemas/<format>.schema.json). */
export function exportSchema(format: string): ValidateFunction {
  let v = compiled.get(format);
  if (!v) {
    v = schemaAjv.compile(read(format));
    compiled.set(format, v);
  }
  return v;
}
