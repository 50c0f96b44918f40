// Builds the webmail into a folder (default ../internal/web/assets):
// app.js (bundled, minified), app.css, index.html. The output depends only
// on the sources and the pinned esbuild, so CI can compare it with the
// committed copy (scripts/webmail-build --check).
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, "..", "internal", "web", "assets");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "app.ts")],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  outfile: join(out, "app.js"),
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
});
await build({
  entryPoints: [join(here, "src", "app.css")],
  minify: true,
  outfile: join(out, "app.css"),
  charset: "utf8",
  logLevel: "warning",
});
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));
