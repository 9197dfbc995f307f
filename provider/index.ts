/**
 * The dynamic provider objects. Pulumi serializes a provider to source text and stores it with
 * every resource, and `read` and `delete` later run that stored text. So these objects stay
 * plain and capture nothing: each method loads the implementation by package name when it
 * runs, which keeps the stored text tiny, free of credentials, and identical across versions
 * (upgrading pulumi-winrm neither replaces nor re-runs existing resources).
 */
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-unsafe-return,
   @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access */
import type * as pulumi from "@pulumi/pulumi";

type Lifecycle = Required<Omit<pulumi.dynamic.ResourceProvider, "configure">>;

export const remoteCommandProvider: Lifecycle = {
  check: (olds, news) => require("pulumi-winrm/dist/provider/remote-command").check(olds, news),
  diff: (id, olds, news) =>
    require("pulumi-winrm/dist/provider/remote-command").diff(id, olds, news),
  create: (inputs) => require("pulumi-winrm/dist/provider/remote-command").create(inputs),
  update: (id, olds, news) =>
    require("pulumi-winrm/dist/provider/remote-command").update(id, olds, news),
  delete: (id, props) => require("pulumi-winrm/dist/provider/remote-command").remove(id, props),
  read: (id, props) => require("pulumi-winrm/dist/provider/remote-command").read(id, props),
};

export const remoteFileProvider: Lifecycle = {
  check: (olds, news) => require("pulumi-winrm/dist/provider/remote-file").check(olds, news),
  diff: (id, olds, news) => require("pulumi-winrm/dist/provider/remote-file").diff(id, olds, news),
  create: (inputs) => require("pulumi-winrm/dist/provider/remote-file").create(inputs),
  update: (id, olds, news) =>
    require("pulumi-winrm/dist/provider/remote-file").update(id, olds, news),
  delete: (id, props) => require("pulumi-winrm/dist/provider/remote-file").remove(id, props),
  read: (id, props) => require("pulumi-winrm/dist/provider/remote-file").read(id, props),
};

export const rebootProvider: Lifecycle = {
  check: (olds, news) => require("pulumi-winrm/dist/provider/reboot").check(olds, news),
  diff: (id, olds, news) => require("pulumi-winrm/dist/provider/reboot").diff(id, olds, news),
  create: (inputs) => require("pulumi-winrm/dist/provider/reboot").create(inputs),
  update: (id, olds, news) => require("pulumi-winrm/dist/provider/reboot").update(id, olds, news),
  delete: () => require("pulumi-winrm/dist/provider/reboot").remove(),
  read: (id, props) => require("pulumi-winrm/dist/provider/reboot").read(id, props),
};

export const remoteArchiveProvider: Lifecycle = {
  check: (olds, news) => require("pulumi-winrm/dist/provider/remote-archive").check(olds, news),
  diff: (id, olds, news) =>
    require("pulumi-winrm/dist/provider/remote-archive").diff(id, olds, news),
  create: (inputs) => require("pulumi-winrm/dist/provider/remote-archive").create(inputs),
  update: (id, olds, news) =>
    require("pulumi-winrm/dist/provider/remote-archive").update(id, olds, news),
  delete: (id, props) => require("pulumi-winrm/dist/provider/remote-archive").remove(id, props),
  read: (id, props) => require("pulumi-winrm/dist/provider/remote-archive").read(id, props),
};
