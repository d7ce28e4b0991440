// Validate an AsyncAPI document with the official parser (@asyncapi/parser).
//
// Usage: node validate_asyncapi.mjs <project root> < document.json
// Prints a JSON array of {severity, code, message, path} diagnostics on stdout.
// The parser is loaded from <project root>/node_modules, installed by `npm ci`.
import { createRequire } from "node:module";
import path from "node:path";

const root = process.argv[2];
const require = createRequire(path.join(root, "package.json"));
const { Parser } = require("@asyncapi/parser");

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;

const { diagnostics } = await new Parser().parse(input);
const out = diagnostics.map((d) => ({
  severity: d.severity,
  code: String(d.code),
  message: d.message,
  path: d.path.join("."),
}));
process.stdout.write(JSON.stringify(out));
