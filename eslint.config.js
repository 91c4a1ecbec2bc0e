// The workflow fence: workflow code is replayed by Temporal and must stay deterministic,
// so it may not reach Node built-ins, connectors, the database or activity values.
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['fs', 'path', 'crypto', 'http', 'https', 'child_process', 'os', 'net', 'url', 'util', 'stream', 'events', 'timers'];

export default tseslint.config(
  { ignores: ['node_modules/**', '.patchflow/**', 'web/vendor/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: nodeBuiltins.flatMap((m) => [m, `node:${m}`]).map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
        patterns: [
          { group: ['node:*'], message: 'Workflow code must be deterministic: no Node built-ins.' },
          { group: ['**/integrations/**', '**/db/**', 'pg', 'knex', '@slack/*', '@microsoft/*'], message: 'Workflows reach the outside world only through activities.' },
          { group: ['**/activities/**'], message: 'Import activity types only (import type).', allowTypeImports: true },
        ],
      }],
    },
  },
);
