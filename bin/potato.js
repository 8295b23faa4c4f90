#!/usr/bin/env node
// The built CLI; run `npm run build` first (the README's setup command does).
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('potato: the CLI is not built yet. Run `npm run build` in the project folder first.');
    process.exit(1);
  }
  throw err;
});
