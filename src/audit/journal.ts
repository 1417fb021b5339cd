import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { AuditEvent } from '../model/audit.js';

// The audit journal (docs/reliability.md#audit-journal): every call's event is appended to a
// segment file of the process that served it — one write(2) for the calls one callback
// released, before each is answered — and moved into SQL, chained there, off the request path. A process
// kill loses nothing acknowledged: what write(2) returned is in the page cache, and whoever
// opens the database next moves a dead process's segments (claimed by an atomic rename, events
// already in SQL skipped). Files, not SQL: this module knows nothing of the database.
//
// A segment's name says whose it is: `<pid>.<start>.<host>.<random>.<n>.jnl`, where <start> is
// the process's start time (/proc/<pid>/stat, so a reused pid is not mistaken for the writer)
// and <host> a hash of the host name. A segment being recovered is renamed
// `<segment>.claim.<pid>.<start>.<host>.<claimer>`. One JSON line per event.

const SUFFIX = '.jnl';
/** The default claimer id; each AuditLog passes its own. */
const CLAIMER = randomBytes(4).toString('hex');
const CLAIM = '.claim.';

/** A process that owns a segment (or a claim on one). */
export interface Owner {
  pid: number;
  start: string;
  host: string;
}

function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22, counted after the command name (which may hold spaces and parentheses).
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
let self: Owner | undefined;
export function thisProcess(): Owner {
  self ??= { pid: process.pid, start: procStart(process.pid) ?? '0', host: HOST };
  return self;
}

const sameOwner = (a: Owner, b: Owner) => a.pid === b.pid && a.start === b.start && a.host === b.host;

/**
 * Whether a segment's owner may still write or move it. On this host: the process with that pid
 * and start time exists (without /proc: a process with that pid exists). Another host's process
 * (a container sharing the data dir) cannot be asked: its segment counts as abandoned once it has
 * not changed for `foreignIdleMs` — a live writer moves its segments within a second.
 */
export function ownerAlive(owner: Owner, mtimeMs: number, foreignIdleMs = 10 * 60_000): boolean {
  const me = thisProcess();
  if (owner.host !== me.host) return Date.now() - mtimeMs < foreignIdleMs;
  if (sameOwner(owner, me)) return true;
  const start = procStart(owner.pid);
  if (start !== undefined) return start === owner.start;
  if (me.start !== '0') return false; // /proc works here, and the pid is gone
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The owner a segment's file name names: its claimer if claimed, else its writer. */
export function ownerOf(name: string): Owner | undefined {
  const claim = name.lastIndexOf(CLAIM);
  const parts = claim >= 0 ? name.slice(claim + CLAIM.length).split('.') : name.split('.');
  if (parts.length < 3 || !/^\d+$/.test(parts[0]!)) return undefined;
  return { pid: Number(parts[0]), start: parts[1]!, host: parts[2]! };
}

/** The events of a segment, in the order written. A last line without its newline was never acknowledged (the write did not return): skipped. */
export function readSegment(file: string): AuditEvent[] {
  const text = readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n');
  if (end < 0) return [];
  const out: AuditEvent[] = [];
  for (const line of text.slice(0, end).split('\n')) {
    if (line) out.push(JSON.parse(line) as AuditEvent);
  }
  return out;
}

/** One process's journal: the segment it writes, and the finished ones not yet moved. */
export class AuditJournal {
  private fd: number | undefined;
  private current = '';
  private bytes = 0;
  /** Segments ended and not yet handed to take(). */
  private ended: string[] = [];
  private n = 0;
  private openedAt = 0;
  private readonly prefix: string;

  constructor(readonly dir: string) {
    const me = thisProcess();
    this.prefix = `${me.pid}.${me.start}.${me.host}.${randomBytes(4).toString('hex')}`;
  }

  private openSegment(): void {
    if (this.n === 0) mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.current = path.join(this.dir, `${this.prefix}.${++this.n}${SUFFIX}`);
    this.fd = openSync(this.current, 'wx', 0o600);
    this.bytes = 0;
    this.openedAt = Date.now();
  }

  /** How long ago the segment being written was begun (ms; 0 when none holds anything). */
  get age(): number {
    return this.fd === undefined || this.bytes === 0 ? 0 : Math.max(1, Date.now() - this.openedAt);
  }

  /**
   * Appends the events with one write(2); returns when the kernel has them (a process kill
   * after this loses nothing). Throws when they could not be written whole.
   */
  append(events: readonly AuditEvent[]): void {
    if (this.fd === undefined) this.openSegment();
    let text = '';
    for (const e of events) text += `${JSON.stringify(e)}\n`;
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.fd!, buf, off, buf.length - off);
    } catch (err) {
      // A partial line would make the next one unreadable: end the segment (its torn last line
      // is skipped by readSegment; the whole lines before it were acknowledged).
      this.bytes += off;
      if (off > 0) this.end();
      throw err;
    }
    this.bytes += buf.length;
  }

  private end(): void {
    closeSync(this.fd!);
    this.fd = undefined;
    if (this.bytes > 0) this.ended.push(this.current);
    else removeSegments([this.current]);
  }

  /**
   * The segments ended since the last call — with `endCurrent`, the one being written too (when
   * it holds anything), so that every event appended so far is in one of them. Each holds only
   * events appended before this call. The next append starts a new segment.
   */
  take(endCurrent: boolean): string[] {
    if (endCurrent && this.fd !== undefined && this.bytes > 0) this.end();
    const out = this.ended;
    this.ended = [];
    return out;
  }

  /** Whether the file is one of this journal's segments. */
  owns(file: string): boolean {
    return path.basename(file).startsWith(`${this.prefix}.`) && path.dirname(file) === this.dir;
  }

  /** Closes the open segment; an empty one is removed. */
  close(): void {
    if (this.fd !== undefined) this.end();
  }
}

export function removeSegments(files: readonly string[]): void {
  for (const f of files) {
    try {
      unlinkSync(f);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

export interface JournalScan {
  /** Segments another live process will move: wait for them to go. */
  live: string[];
  /** Segments this process has claimed (renamed to its own claim): move them, then remove them. */
  claimed: string[];
}

/**
 * One look at the directory: non-empty segments of live processes (other than `mine`, the
 * caller's own), and the ones of dead processes, claimed now by renaming — a rename is atomic,
 * so of two processes recovering at once exactly one gets each segment.
 */
export function scanJournal(dir: string, mine: (file: string) => boolean = () => false, claimer = CLAIMER): JournalScan {
  const out: JournalScan = { live: [], claimed: [] };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  const me = thisProcess();
  for (const name of names) {
    if (!name.endsWith(SUFFIX) && !name.includes(`${SUFFIX}${CLAIM}`)) continue;
    const file = path.join(dir, name);
    if (mine(file)) continue;
    const owner = ownerOf(name);
    if (!owner) continue;
    let st: { size: number; mtimeMs: number };
    try {
      st = statSync(file);
    } catch {
      continue; // moved and removed meanwhile
    }
    if (ownerAlive(owner, st.mtimeMs)) {
      // A claim of ours from an earlier scan whose move failed: moved again. (Another recoverer in
      // this process — a second server sharing the data dir — has its own claimer id: waited for.)
      if (sameOwner(owner, me) && name.includes(CLAIM) && name.endsWith(`.${claimer}`)) out.claimed.push(file);
      else if (st.size > 0) out.live.push(file);
      continue;
    }
    if (st.size === 0) {
      removeSegments([file]);
      continue;
    }
    const base = name.includes(CLAIM) ? name.slice(0, name.indexOf(CLAIM)) : name;
    const claim = path.join(dir, `${base}${CLAIM}${me.pid}.${me.start}.${me.host}.${claimer}`);
    try {
      renameSync(file, claim);
      out.claimed.push(claim);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // ENOENT: another process claimed it first
    }
  }
  return out;
}

/** Whether any of these files still exists. */
export function anyExists(files: readonly string[]): boolean {
  for (const f of files) {
    try {
      statSync(f);
      return true;
    } catch {
      /* gone */
    }
  }
  return false;
}
