/** What the client's integration tests share. */
import { WinRMClient } from "../../provider/winrm/client";
import type { ClientOptions } from "../../provider/winrm/options";
import type { Host } from "../host";
import type { Clock } from "../../provider/winrm/wait-queue";

/** A client for the loopback host's first user, failing fast when the host is down. */
export function clientFor(
  host: Host,
  options: Partial<ClientOptions> = {},
  internals: { clock?: Clock } = {},
): WinRMClient {
  return new WinRMClient(
    {
      host: "127.0.0.1",
      port: host.port,
      user: host.user,
      password: host.password,
      readyTimeoutMs: 2000,
      ...options,
    },
    internals,
  );
}
