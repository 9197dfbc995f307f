/**
 * The parts of krb5.conf (MIT's profile format, which Heimdal shares) that a client needs: the
 * default realm, each realm's KDCs, and which realm a host's domain belongs to. The file is
 * sections of `name = value` relations, where a value may be a `{ ... }` group; a name may repeat
 * (several kdc lines). `#` and `;` start comments. include/includedir are not followed.
 */
import { readFileSync } from "node:fs";
import { ProtocolError } from "../../errors";

type Group = Map<string, Array<string | Group>>;

export interface Krb5Config {
  defaultRealm: string | undefined;
  /** The KDC addresses of a realm, as written ("host", "host:port", "tcp/host:port"). */
  kdcs(realm: string): string[];
  /** The realm of a host by [domain_realm] (".example.com" and exact names). */
  realmOfHost(host: string): string | undefined;
  /** Whether the file names the realm at all. */
  knowsRealm(realm: string): boolean;
}

function add(group: Group, name: string, value: string | Group): void {
  const list = group.get(name);
  if (list === undefined) group.set(name, [value]);
  else list.push(value);
}

export function parseKrb5Conf(text: string): Krb5Config {
  const sections = new Map<string, Group>();
  let stack: Group[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const fail = (why: string) => {
      throw new ProtocolError("krb5.conf", `line ${index + 1}: ${why}`);
    };
    const section = /^\[([^\]]+)\]$/.exec(line);
    if (section) {
      const group: Group =
        sections.get(section[1]!.trim()) ?? new Map<string, Array<string | Group>>();
      sections.set(section[1]!.trim(), group);
      stack = [group];
      return;
    }
    if (/^include(dir)?\s/.test(line) || line.startsWith("module ")) return;
    const current = stack[stack.length - 1];
    if (current === undefined) return fail("a relation outside any [section]");
    if (line.startsWith("}")) {
      if (stack.length < 2) return fail("a } without its {");
      stack.pop();
      return;
    }
    const relation = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (!relation) return fail(`"${line.slice(0, 40)}" is not name = value`);
    const name = relation[1]!.trim();
    const value = relation[2]!.trim();
    if (value === "{") {
      const group: Group = new Map();
      add(current, name, group);
      stack.push(group);
      return;
    }
    // A value may end in `*` (final) in MIT's format; it does not change what it says.
    add(current, name, value.replace(/\s*\*$/, ""));
  });

  const strings = (group: Group | undefined, name: string): string[] =>
    (group?.get(name) ?? []).filter((value): value is string => typeof value === "string");
  const realmGroup = (realm: string): Group | undefined => {
    const value = sections.get("realms")?.get(realm)?.[0];
    return value instanceof Map ? value : undefined;
  };
  return {
    defaultRealm: strings(sections.get("libdefaults"), "default_realm")[0],
    kdcs: (realm) => strings(realmGroup(realm), "kdc"),
    knowsRealm: (realm) => realmGroup(realm) !== undefined,
    realmOfHost(host) {
      const mapping = sections.get("domain_realm");
      if (mapping === undefined) return undefined;
      const name = host.toLowerCase();
      const exact = strings(mapping, name)[0];
      if (exact !== undefined) return exact;
      // The longest matching ".domain" wins.
      for (let dot = name.indexOf("."); dot >= 0; dot = name.indexOf(".", dot + 1)) {
        const realm = strings(mapping, name.slice(dot))[0];
        if (realm !== undefined) return realm;
      }
      return undefined;
    },
  };
}

/** KRB5_CONFIG's first file, else /etc/krb5.conf; undefined when there is none. */
export function loadKrb5Conf(path?: string): Krb5Config | undefined {
  const chosen = path ?? process.env.KRB5_CONFIG?.split(":")[0] ?? "/etc/krb5.conf";
  let text: string;
  try {
    text = readFileSync(chosen, "utf8");
  } catch {
    return undefined;
  }
  return parseKrb5Conf(text);
}
