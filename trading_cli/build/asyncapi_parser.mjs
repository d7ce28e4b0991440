// Validate many AsyncAPI documents with the official parser in one Node process.
//
// Usage: node asyncapi_parser.mjs <project root> [--warnings] < documents.jsonl
// Input: one JSON document a line, validated as it arrives. Output, once stdin
// closes: a JSON array with, for each document, its errors (and with --warnings
// its warnings, prefixed "warning ") as ["<path>: <message> (<rule>)", ...].
//
// The parser compiles the whole AsyncAPI JSON Schema again for every document
// (Spectral keeps its ajv instances per document), about 170 ms each. Sharing one
// set of ajv instances across the documents of this run makes every document
// after the first cost about 2 ms; the rules and the schema are the parser's own.
// A warm-up document pays the first compile while Python builds the documents.
// If a parser upgrade moves that file, validation stays correct, only slower.
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";

const root = process.argv[2];
const severities = process.argv.includes("--warnings") ? [0, 1] : [0];
const require = createRequire(path.join(root, "package.json"));
const parserRequire = createRequire(require.resolve("@asyncapi/parser"));

try {
  const core = path.dirname(parserRequire.resolve("@stoplight/spectral-core"));
  const ajvPath = parserRequire.resolve(
    "@stoplight/spectral-functions/dist/schema/ajv.js",
    { paths: [core] },
  );
  const ajv = parserRequire(ajvPath);
  const create = ajv.createAjvInstances;
  let shared;
  ajv.createAjvInstances = () => (shared ??= create());
} catch {
  // Layout changed: keep the parser's own per-document behaviour.
}

const { Parser } = require("@asyncapi/parser");
const parser = new Parser();
// Compile the AsyncAPI schema now, while Python is still building the documents.
await parser.validate('{"asyncapi": "3.0.0", "info": {"title": "-", "version": "0"}}');

const results = [];
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const diagnostics = await parser.validate(line);
  results.push(
    diagnostics
      .filter((d) => severities.includes(d.severity))
      .map(
        (d) =>
          `${d.severity === 1 ? "warning " : ""}` +
          `${d.path.join(".") || "/"}: ${d.message} (${d.code})`,
      ),
  );
}
process.stdout.write(JSON.stringify(results));
