// openapi-typescript over several OpenAPI documents in one Node process, each
// generated exactly as its CLI does `openapi-typescript DOCUMENT --enum --output
// OUT` from the project root (same library, same Redocly config, same header),
// so the test pays Node's start-up and the library's loading once.
//
// Usage: node openapi_typescript_each.mjs <project root> < jobs.json
// Input: a JSON array of {"document": PATH, "output": PATH}.
// Output: a JSON array with, for each job in order, {"said": [lines the library
// printed while generating it], "failed": null or the error it threw}.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { createConfig, findConfig, loadConfig } from "@redocly/openapi-core";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

const root = process.argv[2];
const jobs = JSON.parse(fs.readFileSync(0, "utf8"));

// As the CLI: the Redocly config found from the working folder, else "minimal".
process.chdir(root);
const configPath = findConfig();
const redocly = configPath
  ? await loadConfig({ configPath })
  : await createConfig({}, { extends: ["minimal"] });

const said = [];
for (const method of ["log", "info", "warn", "error"]) {
  console[method] = (...parts) => said.push(parts.join(" "));
}

const results = [];
for (const job of jobs) {
  said.length = 0;
  let failed = null;
  try {
    const ast = await openapiTS(pathToFileURL(path.resolve(job.document)), {
      enum: true,
      redocly,
      silent: false,
    });
    fs.writeFileSync(job.output, `${COMMENT_HEADER}${astToString(ast)}`, "utf8");
  } catch (error) {
    failed = String(error?.stack ?? error);
  }
  results.push({ said: [...said], failed });
}
process.stdout.write(JSON.stringify(results));
