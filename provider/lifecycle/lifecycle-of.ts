/**
 * The methods of a dynamic provider that load its implementation by package name when they
 * run, so that what Pulumi stores of them captures nothing and stays the same across versions
 * (provider/index.ts says why each provider is then a module of its own).
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import type * as pulumi from "@pulumi/pulumi";

type Props = Record<string, unknown>;
type MaybePromise<T> = T | Promise<T>;

/** What each implementation module (provider/remote-command.ts, ...) exports. */
export interface Implementation {
  check(olds: Props, news: Props): MaybePromise<pulumi.dynamic.CheckResult>;
  diff(id: string, olds: Props, news: Props): MaybePromise<pulumi.dynamic.DiffResult>;
  create(inputs: Props): Promise<pulumi.dynamic.CreateResult>;
  update(id: string, olds: Props, news: Props): Promise<pulumi.dynamic.UpdateResult>;
  remove(id: string, props: Props): Promise<void>;
  read(id: string, props: Props): MaybePromise<pulumi.dynamic.ReadResult>;
}

export type Lifecycle = Required<Omit<pulumi.dynamic.ResourceProvider, "configure">>;

/**
 * The provider methods for the implementation at `modulePath`, a path under the package name
 * ("pulumi-winrm/dist/provider/remote-command"); `T`, its type, is checked against what the
 * methods call.
 */
export function lifecycleOf<T extends Implementation>(modulePath: string): Lifecycle {
  const implementation = () => require(modulePath) as T;
  return {
    check: (olds: Props, news: Props) => Promise.resolve(implementation().check(olds, news)),
    diff: (id: string, olds: Props, news: Props) =>
      Promise.resolve(implementation().diff(id, olds, news)),
    create: (inputs: Props) => implementation().create(inputs),
    update: (id: string, olds: Props, news: Props) => implementation().update(id, olds, news),
    delete: (id: string, props: Props) => implementation().remove(id, props),
    read: (id: string, props: Props) => Promise.resolve(implementation().read(id, props)),
  };
}
