/**
 * How a Windows program sees its command line, for the Windows persona of the loopback host.
 *
 * WinRS joins rsp:Command and the rsp:Arguments texts with spaces and hands the line to
 * cmd.exe (or, with WINRS_SKIP_CMD_SHELL, straight to CreateProcess). The program then splits
 * it into argv itself; powershell.exe does that with the C runtime's rules, which are those of
 * CommandLineToArgvW ("Parsing C++ command-line arguments", Microsoft C++ documentation):
 *
 * - the program name (argv[0]) ends at the first space or tab outside double quotes, and its
 *   quotes are dropped; backslashes in it are literal;
 * - after that, arguments are separated by spaces and tabs outside double quotes;
 * - 2n backslashes before a double quote give n backslashes, and the quote opens or closes a
 *   quoted part; 2n+1 backslashes before a quote give n backslashes and a literal quote;
 *   backslashes not before a quote are literal;
 * - inside a quoted part, "" gives a literal quote and the part goes on.
 */

/** Splits a Windows command line into argv as the C runtime does. */
export function splitWindowsCommandLine(line: string): string[] {
  const argv: string[] = [];
  let index = 0;
  const length = line.length;
  const blank = (char: string | undefined) => char === " " || char === "\t";

  while (blank(line[index])) index++;
  if (index >= length) return argv;
  // argv[0]: quotes toggle, nothing is escaped.
  let program = "";
  let quoted = false;
  for (; index < length; index++) {
    const char = line[index]!;
    if (char === '"') quoted = !quoted;
    else if (blank(char) && !quoted) break;
    else program += char;
  }
  argv.push(program);

  for (;;) {
    while (blank(line[index])) index++;
    if (index >= length) return argv;
    let argument = "";
    quoted = false;
    for (; index < length;) {
      const char = line[index]!;
      if (char === "\\") {
        let backslashes = 0;
        while (line[index] === "\\") {
          backslashes++;
          index++;
        }
        if (line[index] === '"') {
          argument += "\\".repeat(Math.floor(backslashes / 2));
          if (backslashes % 2 === 1) {
            argument += '"';
            index++;
          }
        } else {
          argument += "\\".repeat(backslashes);
        }
        continue;
      }
      if (char === '"') {
        if (quoted && line[index + 1] === '"') {
          argument += '"';
          index += 2;
          continue;
        }
        quoted = !quoted;
        index++;
        continue;
      }
      if (blank(char) && !quoted) break;
      argument += char;
      index++;
    }
    argv.push(argument);
  }
}

/**
 * The first character that cmd.exe would act on before the program sees the line (a command
 * separator, a pipe, a redirection or its escape character outside double quotes, or a
 * %VARIABLE% anywhere); undefined
 * when the line reaches the program as written. The loopback host cannot reproduce cmd.exe,
 * so a PowerShell line that needs it is refused rather than run differently.
 */
export function cmdOperatorOutsideQuotes(line: string): string | undefined {
  // cmd.exe expands %NAME% even inside quotes.
  const variable = /%[^%\s"]+%/.exec(line);
  if (variable) return variable[0];
  let quoted = false;
  for (const char of line) {
    if (char === '"') quoted = !quoted;
    else if (!quoted && "&|<>^".includes(char)) return char;
  }
  return undefined;
}
