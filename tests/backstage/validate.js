// Backstage's own checks, for tests/test_catalog.py (run with `node validate.js ...`):
//   node validate.js entities FILE...            each YAML document through the catalog's entity policies
//                                                and its kind's validator (Component: catalog-model,
//                                                Template: plugin-scaffolder-common); one JSON line per file
//   node validate.js serve                       the same for each file path read from stdin, one line
//                                                each, and a line {"template": FILE, "values": {...}}
//                                                as `parameters`, so that many checks cost one start
//   node validate.js parameters TEMPLATE VALUES  what the scaffolder backend answers to a form submission
//                                                (VALUES is JSON): each parameter page validated with the
//                                                `jsonschema` package it uses; the errors, as JSON
'use strict';

const fs = require('node:fs');
const YAML = require('yaml');
const jsonschema = require('jsonschema');
const model = require('@backstage/catalog-model');
const { templateEntityV1beta3Validator } = require('@backstage/plugin-scaffolder-common');

// The catalog's default policies (catalog-backend's default processing), then the validators of each kind.
const policies = model.EntityPolicies.allOf([
  new model.SchemaValidEntityPolicy(),
  new model.DefaultNamespaceEntityPolicy(),
  new model.NoForeignRootFieldsEntityPolicy(),
  new model.FieldFormatEntityPolicy(),
]);
const kindValidators = [
  model.apiEntityV1alpha1Validator,
  model.componentEntityV1alpha1Validator,
  model.domainEntityV1alpha1Validator,
  model.groupEntityV1alpha1Validator,
  model.locationEntityV1alpha1Validator,
  model.resourceEntityV1alpha1Validator,
  model.systemEntityV1alpha1Validator,
  model.userEntityV1alpha1Validator,
  templateEntityV1beta3Validator,
];

async function checkEntity(entity) {
  await policies.enforce(entity);
  for (const validator of kindValidators) {
    if (await validator.check(entity)) {
      return;
    }
  }
  throw new Error(`no validator knows ${entity.apiVersion} ${entity.kind}`);
}

async function checkFile(file) {
  try {
    const documents = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
    for (const document of documents) {
      if (document.errors.length) {
        throw new Error(document.errors.map(String).join('; '));
      }
      await checkEntity(document.toJS());
    }
    return { file, ok: true };
  } catch (error) {
    return { file, ok: false, error: String(error.message || error) };
  }
}

async function entities(files) {
  let failed = false;
  for (const file of files) {
    const result = await checkFile(file);
    failed = failed || !result.ok;
    console.log(JSON.stringify(result));
  }
  return failed ? 1 : 0;
}

async function serve() {
  const lines = require('node:readline').createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.startsWith('{')) { // {"template": FILE, "values": {...}}: the errors of a form submission
      const { template, values } = JSON.parse(line);
      console.log(JSON.stringify({ errors: parameterErrors(template, values) }));
    } else {
      console.log(JSON.stringify(await checkFile(line)));
    }
  }
  return 0;
}

function parameterErrors(templateFile, values) {
  const template = YAML.parse(fs.readFileSync(templateFile, 'utf8'));
  for (const page of [template.spec.parameters ?? []].flat()) {
    const result = jsonschema.validate(values, page);
    if (!result.valid) {
      // the backend answers with the errors of the first page that fails
      return result.errors.map(e => ({ property: e.property, message: e.message, stack: e.stack }));
    }
  }
  return [];
}

function parameters(templateFile, valuesJson) {
  console.log(JSON.stringify(parameterErrors(templateFile, JSON.parse(valuesJson))));
  return 0;
}

async function main([mode, ...args]) {
  if (mode === 'entities') {
    return entities(args);
  }
  if (mode === 'serve') {
    return serve();
  }
  if (mode === 'parameters' && args.length === 2) {
    return parameters(...args);
  }
  console.error('usage: node validate.js entities FILE... | serve | parameters TEMPLATE VALUES_JSON');
  return 2;
}

main(process.argv.slice(2)).then(code => process.exit(code));
