/**
 * Builds test/support/fs-faults.c (an LD_PRELOAD library, described there) with the system's C
 * compiler, once per source text, into the cache folder, and gives the environment that turns
 * its faults on for a child process.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

const SOURCE = resolve(__dirname, "..", "..", "..", "test", "support", "fs-faults.c");

export interface FsFaults {
  /** Files without a write bit behave as Windows read-only files. */
  windowsReadOnly?: boolean;
  /**
   * A rename or link onto a path matching `onto` from a file whose name matches `from` fails;
   * both are fnmatch(3) patterns (fnmatchLiteral quotes a path).
   */
  refuse?: { onto: string; from: string };
  /** Deleting a file whose path matches this fnmatch(3) pattern fails. */
  refuseUnlink?: string;
}

/** `text` as an fnmatch(3) pattern that matches only itself. */
export function fnmatchLiteral(text: string): string {
  return text.replace(/[\\*?[]/g, "\\$&");
}

let built: string | undefined;

/** The library's path, compiling it on first use; throws with the compiler's message. */
export function fsFaultsLibrary(): string {
  if (built !== undefined) return built;
  const source = readFileSync(SOURCE);
  const digest = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const dir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "pulumi-winrm");
  const library = join(dir, `fs-faults-${digest}.so`);
  if (!existsSync(library)) {
    mkdirSync(dir, { recursive: true });
    const partial = `${library}.${process.pid}`;
    const cc = process.env.CC ?? "cc";
    const result = spawnSync(cc, ["-shared", "-fPIC", "-O2", "-o", partial, SOURCE, "-ldl"], {
      encoding: "utf8",
    });
    if (result.status !== 0) {
      throw new Error(
        `could not build fs-faults with ${cc} (apt-get install gcc): ${result.error?.message ?? result.stderr}`,
      );
    }
    renameSync(partial, library);
  }
  built = library;
  return library;
}

/** The environment (added to `base`) under which a child process meets `faults`. */
export function fsFaultsEnv(
  faults: FsFaults,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, LD_PRELOAD: fsFaultsLibrary() };
  if (faults.windowsReadOnly) env.FS_FAULTS_WINDOWS_READONLY = "1";
  if (faults.refuse) {
    env.FS_FAULTS_REFUSE_ONTO = faults.refuse.onto;
    env.FS_FAULTS_REFUSE_FROM = faults.refuse.from;
  }
  if (faults.refuseUnlink !== undefined) env.FS_FAULTS_REFUSE_UNLINK = faults.refuseUnlink;
  return env;
}
