import * as pulumi from "@pulumi/pulumi";
import { stackFramesOff } from "./stack-frames";

/**
 * The base of this SDK's resources: a dynamic resource declared without the Pulumi SDK's
 * per-property stack traces (sdk/stack-frames.ts says why and what stays as it was).
 */
export abstract class DynamicResource extends pulumi.dynamic.Resource {
  constructor(
    provider: pulumi.dynamic.ResourceProvider,
    name: string,
    props: pulumi.Inputs,
    opts: pulumi.CustomResourceOptions | undefined,
    module: string,
    type: string,
  ) {
    const frames = stackFramesOff();
    try {
      super(provider, name, props, opts, module, type);
    } catch (error) {
      throw frames.restack(error);
    } finally {
      frames.restore();
    }
  }
}
