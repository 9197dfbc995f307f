/**
 * The RemoteFile dynamic provider, shaped as a module: its exports are exactly the provider's
 * methods (provider/index.ts says why).
 */
import type * as implementation from "../remote-file";
import { lifecycleOf } from "./lifecycle-of";

const lifecycle = lifecycleOf<typeof implementation>("pulumi-winrm/dist/provider/remote-file");

export const { check, diff, create, update, read } = lifecycle;
const remove = lifecycle.delete;
export { remove as delete };
