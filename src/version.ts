import { readFileSync } from 'node:fs';

interface PackageJson {
  name: string;
  version: string;
}

// dist/src/version.js and src/version.ts both sit two levels below package.json
// once the build's extra dist/ level is counted; search upwards to cover both.
function findPackageJson(): PackageJson {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as PackageJson;
      if (pkg.name === 'pv-lifecycle-operator') return pkg;
    } catch {
      // try the next candidate
    }
  }
  return { name: 'pv-lifecycle-operator', version: 'unknown' };
}

export const packageInfo = findPackageJson();
