/**
 * The dynamic provider objects. Pulumi serializes a provider to source text and stores it with
 * every resource, twice (in its inputs and its outputs), and `read` and `delete` later run that
 * stored text. So the providers capture nothing: each method loads the implementation by
 * package name when it runs, which keeps the stored text free of credentials and identical
 * across versions (upgrading pulumi-winrm neither replaces nor re-runs existing resources).
 *
 * Each provider is a module of its own whose exports are exactly the provider's methods
 * (./lifecycle/). Pulumi's closure serializer writes a captured object that is the exports of
 * a module under node_modules as `require("<package>/<path>")` instead of its source, so an
 * installed pulumi-winrm stores about 300 bytes per copy, not the 2,000 that six serialized
 * functions took (issue 19: the provider text was two thirds of each resource's state). Used
 * from a checkout rather than node_modules, the module is serialized by value: the same thin
 * methods, so it still works, only larger.
 */
import type * as pulumi from "@pulumi/pulumi";
import * as rebootLifecycle from "./lifecycle/reboot";
import * as remoteArchiveLifecycle from "./lifecycle/remote-archive";
import * as remoteCommandLifecycle from "./lifecycle/remote-command";
import * as remoteFileLifecycle from "./lifecycle/remote-file";

type Lifecycle = Required<Omit<pulumi.dynamic.ResourceProvider, "configure">>;

export const remoteCommandProvider: Lifecycle = remoteCommandLifecycle;
export const remoteFileProvider: Lifecycle = remoteFileLifecycle;
export const rebootProvider: Lifecycle = rebootLifecycle;
export const remoteArchiveProvider: Lifecycle = remoteArchiveLifecycle;
