// Lint with types, plus the layer fences. Each fence is one `no-restricted-imports` block: what a
// room may not import. Value imports only where a room may still see another's types.
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

/** A fence: `files` may not import what `patterns` name (each with its reason; `allowTypeImports` lets types through). */
const fence = (files, patterns) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns }] } });
const room = (name) => [`**/${name}/**`, `../${name}`, `../../${name}`];

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
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  // The kernel is imported by everyone and imports nothing of the project.
  fence(
    ['kernel/**/*.ts'],
    [{ group: ['../*', '!../kernel'], message: 'kernel/ imports nothing of the project: every room imports it.' }],
  ),
  // Connectors talk to vendors; the database, the use cases, the server and the process wiring are not theirs.
  fence(
    ['integrations/**/*.ts'],
    [
      {
        group: [...room('db'), ...room('app'), ...room('server'), ...room('runtime'), ...room('activities')],
        message:
          'integrations/ may not import db/, app/, server/, runtime/ or activities/: a connector is handed what it needs.',
        allowTypeImports: true,
      },
    ],
  ),
  // Use cases are called by the edges; they never reach back into them.
  fence(
    ['app/**/*.ts'],
    [
      {
        group: [...room('server'), ...room('bin'), ...room('activities')],
        message: 'app/ holds the use cases: it may not import server/, bin/ or activities/.',
      },
      {
        group: room('runtime'),
        message: 'app/ may import only types from runtime/: the runtime builds the context and hands it in.',
        allowTypeImports: true,
      },
    ],
  ),
  fence(
    ['db/**/*.ts', 'prioritization/**/*.ts'],
    [
      {
        group: [
          ...room('app'),
          ...room('server'),
          ...room('runtime'),
          ...room('activities'),
          ...room('integrations'),
          ...room('bin'),
        ],
        message: 'db/ and prioritization/ sit below the use cases and the connectors.',
        allowTypeImports: true,
      },
    ],
  ),
  fence(
    ['server/**/*.ts', 'activities/**/*.ts'],
    [
      {
        group: [...room('runtime'), ...room('bin')],
        message: 'server/ and activities/ are wired by runtime/; they may not import it.',
        allowTypeImports: true,
      },
    ],
  ),
  // The workflow fence: workflow code is replayed by Temporal and must stay deterministic, so it
  // may not reach Node built-ins, connectors, the database or activity values.
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: builtinModules
            .flatMap((m) => [m, `node:${m}`])
            .map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
          patterns: [
            { group: ['node:*'], message: 'Workflow code must be deterministic: no Node built-ins.' },
            {
              group: [
                '**/integrations/**',
                '**/db/**',
                '**/app/**',
                '**/server/**',
                '**/runtime/**',
                'pg',
                'knex',
                '@slack/*',
                '@microsoft/*',
              ],
              message: 'Workflows reach the outside world only through activities.',
            },
            {
              group: ['**/kernel/**', '!**/kernel/error-kinds.ts'],
              message: "Workflows may read only the kernel's error-kinds table: the rest of the kernel does I/O.",
            },
            {
              group: ['**/activities/**'],
              message: 'Import activity types only (import type).',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
