/**
 * Quoting for the two script families. Every remote path goes through one of these functions;
 * nothing else builds a quoted literal.
 */
import { InvalidArgumentError } from "../../errors";

/**
 * Quotes `value` as one POSIX shell word.
 *
 * POSIX Shell Command Language, 2.2.3 "Single-Quotes": every character between single quotes
 * keeps its literal value, and a single quote cannot occur inside. So each `'` closes the
 * quoted run, is emitted as `\'` (2.2.1, backslash outside quotes), and a new run opens:
 * `it's` becomes `'it'\''s'`. Newlines, `$`, backticks, `\` and non-ASCII need nothing more.
 * NUL cannot be passed through an argument vector at all, so it is refused.
 */
export function quotePosix(value: string): string {
  refuseNul(value);
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The characters PowerShell's tokenizer treats as a single quote: the ASCII apostrophe and the
 * four typographic quotes U+2018, U+2019, U+201A, U+201B (PowerShell's CharTraits
 * `IsSingleQuote`; about_Quoting_Rules mentions that "smart quotes" are treated as quotes).
 */
const POWERSHELL_SINGLE_QUOTES = /['\u2018\u2019\u201A\u201B]/g;

/**
 * Quotes `value` as a PowerShell verbatim (single-quoted) string literal.
 *
 * about_Quoting_Rules: inside a single-quoted string nothing is expanded (`$`, backtick and
 * newlines are literal), and a quote character is written by doubling it. The doubling must
 * cover every character in POWERSHELL_SINGLE_QUOTES, since any of them ends the string; this
 * is what PowerShell's own `CodeGeneration.EscapeSingleQuotedStringContent` does.
 */
export function quotePowerShell(value: string): string {
  refuseNul(value);
  return `'${value.replace(POWERSHELL_SINGLE_QUOTES, (quote) => quote + quote)}'`;
}

/** A remote path must be non-empty and free of NUL, which neither family can carry. */
export function checkRemotePath(path: string, option = "path"): void {
  if (path.length === 0) throw new InvalidArgumentError(option, "must not be empty");
  refuseNul(path, option);
}

function refuseNul(value: string, option = "path"): void {
  if (value.includes("\0")) throw new InvalidArgumentError(option, "must not contain NUL");
}
