/**
 * What each end-to-end test file sets up: the packed-and-installed project, a loopback host in
 * this process, and a scratch folder; all created before the file's tests and removed after.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { type Host, type HostOptions, startHost } from "../../host";
import { createProject, type E2EProject } from "./project";

export interface E2EFixture {
  readonly project: E2EProject;
  readonly host: Host;
  /** A scratch folder (the loopback host's files live on this machine). */
  readonly work: string;
  /** The connection input that reaches the host as its first user. */
  readonly connection: Record<string, unknown>;
}

/** Registers before/after hooks in the calling suite; the fields are ready inside its tests. */
export function e2eFixture(name: string, hostOptions: HostOptions = {}): E2EFixture {
  let project: E2EProject | undefined;
  let host: Host | undefined;
  let work: string | undefined;
  before(async () => {
    project = await createProject();
    host = await startHost(hostOptions);
    work = mkdtempSync(join(tmpdir(), `pulumi-winrm-e2e-${name}-`));
  });
  after(async () => {
    await host?.close();
    project?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the e2e fixture's ${what} is not set up yet`);
    return value;
  };
  return {
    get project() {
      return ready(project, "project");
    },
    get host() {
      return ready(host, "host");
    },
    get work() {
      return ready(work, "scratch folder");
    },
    get connection() {
      const { port, user, password } = ready(host, "host");
      return { host: "127.0.0.1", port, user, password };
    },
  };
}
