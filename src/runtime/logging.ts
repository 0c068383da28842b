// The process logger: winston, writing one line per entry to stderr (stdout
// stays free for command output). JSON lines for log collectors by default,
// a plain key=value line for people at a terminal.
import winston from 'winston';

export const logLevels = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof logLevels)[number];

export const logFormats = ['json', 'text'] as const;
export type LogFormat = (typeof logFormats)[number];

export interface LoggerOptions {
  level?: string;
  format?: string;
  /** Where lines go; process.stderr unless a test captures them. */
  stream?: NodeJS.WritableStream;
}

export function isLogLevel(value: string): value is LogLevel {
  return (logLevels as readonly string[]).includes(value);
}

// Lower is more severe, as winston expects.
const levelPriorities: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

// Error objects in meta would serialize as {} in JSON and "[object Error]" in text.
const plainErrors = winston.format((info) => {
  for (const [key, value] of Object.entries(info)) {
    if (value instanceof Error) info[key] = value.message;
  }
  return info;
});

const reserved = new Set(['level', 'message', 'timestamp']);

/** A value as it appears after key=: bare when unambiguous, JSON-quoted otherwise. */
function textValue(value: unknown): string {
  if (typeof value === 'string')
    return value !== '' && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return value.toString();
  }
  return JSON.stringify(value);
}

const textLine = winston.format.printf((info) => {
  const fields = Object.entries(info)
    .filter(([key]) => !reserved.has(key))
    .map(([key, value]) => ` ${key}=${textValue(value)}`)
    .join('');
  // One line per entry, whatever the message holds.
  const message = String(info.message).replace(/\r?\n/g, '\\n');
  return `${String(info.timestamp)} ${info.level.padEnd(5)} ${message}${fields}`;
});

export function createLogger(options: LoggerOptions = {}): winston.Logger {
  const level = options.level ?? 'info';
  if (!isLogLevel(level)) {
    throw new Error(`invalid log level "${level}": valid levels are ${logLevels.join(', ')}`);
  }
  const format = options.format ?? 'json';
  if (format !== 'json' && format !== 'text') {
    throw new Error(`invalid log format "${format}": valid formats are ${logFormats.join(', ')}`);
  }
  return winston.createLogger({
    levels: levelPriorities,
    level,
    format: winston.format.combine(
      plainErrors(),
      winston.format.timestamp(),
      format === 'json' ? winston.format.json() : textLine,
    ),
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stderr })],
  });
}
