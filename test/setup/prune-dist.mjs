// Removes from dist/ the compiled files whose TypeScript source no longer exists, before tsc
// writes the rest. Without this a module moved into a folder (winrm/wsman.ts to
// winrm/wsman/index.ts) leaves its old dist/…/wsman.js behind, and Node resolves "./wsman"
// to that stale file instead of the folder. Files whose source exists are left alone, so
// processes running from dist/ meanwhile are not disturbed.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join, relative } from "node:path";

const root = process.cwd();
const dist = join(root, "dist");
const OUTPUT = /\.(js|js\.map|d\.ts|d\.ts\.map)$/;

function prune(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      prune(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
      continue;
    }
    if (!OUTPUT.test(entry.name)) continue;
    const source = join(root, relative(dist, path)).replace(OUTPUT, ".ts");
    if (!existsSync(source)) rmSync(path);
  }
}

if (existsSync(dist)) prune(dist);
