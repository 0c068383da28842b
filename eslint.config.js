import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'cluster/go/', '.cluster/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // client-node's models are classes, yet the library itself takes and
      // returns plain objects for them; object literals are the idiom.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      // For the same reason, spreading them into updated copies is safe.
      '@typescript-eslint/no-misused-spread': 'off',
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['test/**/*.ts', 'e2e/**/*.ts', 'cluster/**/*.test.ts'],
    rules: {
      // chai's expect(x).to.be.true style reads as an unused expression.
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
);
