import * as pulumi from "@pulumi/pulumi";
import { rebootProvider } from "../provider";
import type { ConnectionArgs } from "./connection";
import { TYPE_MODULE, urnInput } from "./resource-type";
import { DynamicResource } from "./dynamic-resource";

export interface RebootArgs {
  connection: pulumi.Input<ConnectionArgs>;
  /** Any change restarts the host again. */
  triggers?: pulumi.Input<unknown[]>;
  /**
   * "always" (the default), or "pending": restart only when Windows says a restart is pending
   * (Component Based Servicing, Windows Update, pending file rename operations, a computer
   * rename or a domain join); `rebooted` is then false when nothing was pending.
   */
  when?: pulumi.Input<"always" | "pending">;
  /** Seconds to wait for the host to go down, come back and pass `test`. Default 600. */
  timeout?: pulumi.Input<number>;
  /** A command that must exit 0 before the host counts as ready (a service being up). */
  test?: pulumi.Input<string>;
  /** The shell `test` runs in: "powershell" (default) or "cmd". */
  shell?: pulumi.Input<"powershell" | "cmd">;
  /** Noted with the restart (shutdown.exe's comment, at most 512 characters, no `"`). */
  message?: pulumi.Input<string>;
}

/**
 * Restarts a host and waits until it is usable again: WinRM answers with a new boot time and
 * `test` passes. Resources that depend on it run only after that, on fresh connections.
 * Refresh and destroy do nothing on the host.
 */
export class Reboot extends DynamicResource {
  /** When the host booted (ISO 8601 UTC), after the restart. */
  declare readonly bootTime: pulumi.Output<string>;
  /** False when `when: "pending"` found nothing pending. */
  declare readonly rebooted: pulumi.Output<boolean>;
  /** Seconds from the restart request until the host was back and ready. */
  declare readonly waitedSeconds: pulumi.Output<number>;

  constructor(name: string, args: RebootArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      rebootProvider,
      name,
      {
        ...args,
        connection: pulumi.secret(args.connection),
        __urn: urnInput(name, "Reboot", opts),
        bootTime: undefined,
        rebooted: undefined,
        waitedSeconds: undefined,
      },
      opts,
      TYPE_MODULE,
      "Reboot",
    );
  }
}
