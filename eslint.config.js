// ESLint flat config. Besides typescript-eslint's recommended rules it enforces the runtime
// layering of ../shared/docs/ARCHITECTURE.md: `common` is pure, `engine` and `capture-worker`
// never import Electron, `renderer` imports neither Node nor Electron, and nothing below the CLI
// imports the CLI.
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = ['node:*', 'fs', 'path', 'os', 'child_process', 'worker_threads', 'net', 'http', 'crypto', 'zlib', 'stream'];
const restrict = (patterns, message) => ({
  'no-restricted-imports': ['error', { patterns: patterns.map((group) => ({ group: [group], message })) }],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/out/**', 'renderer/dist/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['common/**/*.ts'],
    rules: restrict(
      [...NODE_BUILTINS, 'electron', '**/engine/**', '**/cli/**', '**/main/**', '**/renderer/**', '**/capture-worker/**', '@duckdb/*'],
      'common/ is pure TypeScript: no Node, Electron, engine, store or UI imports.',
    ),
  },
  {
    files: ['engine/**/*.ts', 'capture-worker/**/*.ts'],
    rules: restrict(['electron', '**/cli/**', '**/main/**', '**/renderer/**', '**/preload/**'], 'engine/ and capture-worker/ are plain Node: no Electron, CLI or UI imports.'),
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    rules: restrict([...NODE_BUILTINS, 'electron', '**/engine/**', '**/main/**', '@duckdb/*'], 'renderer/ talks only through the API contract in common/.'),
  },
);
