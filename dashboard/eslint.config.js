// Lints the dashboard's sources as `npm run build` runs it: ESLint's and typescript-eslint's
// recommended rules with type information, the hooks rules (Preact's hooks follow React's),
// and nothing about formatting (Prettier owns that).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // Generated from the server's Rust types (cli/src/dashboard/api.rs), and the built files.
  { ignores: ['dist/', 'src/generated/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    files: ['src/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
    },
  },
  {
    // The browser test and the configuration files are plain JavaScript, without types.
    files: ['**/*.{js,mjs}'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: {
        console: 'readonly',
        process: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        URL: 'readonly',
        document: 'readonly',
        window: 'readonly',
        // Inside page.evaluate(): run in the browser.
        location: 'readonly',
        Node: 'readonly',
      },
    },
  },
  prettier,
);
