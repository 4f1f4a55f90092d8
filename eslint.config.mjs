import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'jest.config.cjs',
      '.tools/',
      '.data/',
      'coverage/',
      'bin/',
      'xblock/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node modules, no clocks of its own.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'crypto', 'axios', 'mongodb', 'koa'],
              message: 'Workflow code must stay deterministic.',
            },
            {
              group: ['../src/*', '../activities/*'],
              allowTypeImports: true,
              message: 'Import only types from outside workflows/.',
            },
          ],
        },
      ],
    },
  },
);
