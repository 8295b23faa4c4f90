/**
 * @module vitest.config
 * The tests in four projects, all run by `npm test`, each alone by `npm run test:<name>`:
 * - unit: tests beside the code, in process or with short-lived git/node children; no Docker,
 *   no browser, no server or agent processes. Under 30 s on a loaded 2-core machine.
 * - engine: whole sessions on real git/SQLite/local sandbox, the HTTP server, the CLI as a
 *   process, the Claude Agent SDK's bundled CLI, the PostgreSQL store on a throwaway cluster
 *   (scripts/postgres/); no Docker, no browser.
 * - engine-pg: the engine's session suites again with the store on PostgreSQL.
 * - docker: sandboxes and sessions in real containers (a running engine and the test images).
 * - e2e: the built UI (`npm run build`) in Chromium against a real server.
 * A new test beside the code lands in unit, a new one under test/ in engine; one beside the
 * code that needs more goes in `slowBesideCode`.
 */
import { configDefaults, defineConfig } from 'vitest/config';

/** Co-located tests that start servers or agent processes: they run with the engine project. */
const slowBesideCode = [
  'src/server/server.test.ts',
  'src/session/sdk-controller.test.ts',
  'src/backends/claude-agent-sdk/**/*.test.ts',
];

/** What every project shares; the root's globalSetup runs once for all of them. */
const shared = { testTimeout: 60_000, hookTimeout: 120_000 };

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    // Integration tests drive real git, Docker, Chromium and servers: keep files apart.
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      {
        test: {
          ...shared,
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/model-server/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...slowBesideCode],
        },
      },
      {
        test: {
          ...shared,
          name: 'engine',
          // A throwaway PostgreSQL cluster for the stores' tests on it (test/postgres/).
          globalSetup: ['test/postgres/global-setup.ts'],
          include: [...slowBesideCode, 'test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/model-server/**', 'test/docker/**', 'test/e2e/**'],
        },
      },
      {
        test: {
          ...shared,
          // The engine's and the server's suites again, on PostgreSQL (a fresh schema each): the
          // same sessions, controls, rollbacks, exports and API on both stores (test/store/test-store.ts).
          name: 'engine-pg',
          globalSetup: ['test/postgres/global-setup.ts'],
          include: [
            'test/engine/**/*.test.ts',
            'test/backends/session.test.ts',
            'test/export/auto-export.test.ts',
            'test/export/server-export.test.ts',
            'test/server/live-engine.test.ts',
            'test/server/errors.test.ts',
            'test/server/faults.test.ts',
            'test/server/slow-viewer.test.ts',
            'src/server/server.test.ts',
          ],
          env: { POTATO_TEST_STORE: 'postgres' },
        },
      },
      { test: { ...shared, name: 'docker', include: ['test/docker/**/*.test.ts'] } },
      { test: { ...shared, name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
    ],
  },
});
