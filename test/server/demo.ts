/**
 * @module test/server/demo
 * A private copy of examples/demo (config, scripted agent, repository) in a temp folder, so a
 * test can run the real engine on it without touching the example; and a free port.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { tempDir } from './harness.js';

export const DEMO_DIR = path.resolve(import.meta.dirname, '../../examples/demo');

/** The parts of the demo's YAML the tests change. */
export interface DemoDoc {
  live_coding_agent: {
    scripted: { turn_delay_ms: number };
    streaming: { update_interval_ms: number; buffer_output: boolean };
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** Copy the demo and apply `patch` to its config; returns the config file's path. */
export function demoCopy(patch: (doc: DemoDoc) => void = () => {}): string {
  const dir = tempDir('potato-demo-');
  cpSync(DEMO_DIR, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}output`) });
  const file = path.join(dir, 'config.yaml');
  const doc = parse(readFileSync(file, 'utf8')) as DemoDoc;
  patch(doc);
  writeFileSync(file, stringify(doc));
  return file;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
