/**
 * What the engine benchmarks share: a loopback host in this process and a temporary project
 * with pulumi-winrm packed and installed as a user installs it, both removed by `cleanup`.
 */
import { type Host, startHost } from "../../test/host";
import { createProject, type E2EProject } from "../../test/e2e/support/project";
import { type Cleanup, log, LOOPBACK } from "./process";

export interface EngineProject {
  host: Host;
  project: E2EProject;
  /** The connection input that reaches the host. */
  connection: { host: string; port: number; user: string; password: string };
}

export async function startEngineProject(cleanup: Cleanup): Promise<EngineProject> {
  const host = await startHost();
  cleanup.add("closing the in-process host", () => host.close());
  log("bench: installing pulumi-winrm into a temporary project (npm pack + npm install)");
  const project = await createProject();
  cleanup.add("removing the project", () => Promise.resolve(project.close()));
  const connection = { host: LOOPBACK, port: host.port, user: host.user, password: host.password };
  return { host, project, connection };
}
