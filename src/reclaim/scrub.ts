// The scrub a recycler Job's container runs: a POSIX sh script that empties
// the volume mounted at /scrub, for busybox (the default image) and GNU
// findutils alike.
//
// Why it is written this way:
// - Entries are found by `find`, never by a shell glob, so there is no
//   argument-length limit (the in-tree `rm -rf /scrub/*` broke past ~67k
//   files) and no name is special: dotfiles, `..x`, `-rf`, spaces, newlines.
//   Globbing is also switched off (`set -f`) so no expansion can go wrong.
// - find runs without -L/-H, so it never follows a symbolic link: links are
//   removed, their targets are not touched. -xdev keeps it on the volume's
//   filesystem; a mount point inside the volume is left in place, so the
//   check at the end fails instead of emptying someone else's filesystem.
// - `find -delete` is used where find has it (GNU; busybox when built with
//   it): GNU deletes relative to the open parent directory. Some busybox
//   builds lack -delete; there the script removes non-directories with
//   `rm -f`, then the directories deepest first with `rmdir`, each batched
//   through `-exec ... {} +`.
// - Before anything is removed it refuses a relative path, the root (however
//   spelled), a path with `.` or `..` components, a symbolic link (find would
//   not descend into it and would report success on an untouched target), a
//   missing path and a non-directory. The root check comes first.
// - Success is decided by the result, not by find's exit status: the
//   directory must be listable and empty at the end.
// - The outcome is printed and, when the file is writable, written to the
//   kubelet's termination message file, so the controller can read it from
//   the pod status: "scrubbed 123 entries from /scrub", or
//   "scrub failed: 2 entries remain in /scrub".
//
// Parameters: $1 is the directory (default /scrub); SCRUB_TERMINATION_LOG
// overrides /dev/termination-log (for tests).

/** The directory the volume is mounted at in the recycler pod. */
export const scrubMountPath = '/scrub';

/** Exit status when the script refused to start: nothing was touched. */
export const scrubExitRefused = 2;
/** Exit status when scrubbing ran but the directory is not empty. */
export const scrubExitIncomplete = 1;

// A template literal: `\${` stands for the shell's `${` and `\\n` for the
// `\n` of printf's format.
export const scrubScript = `set -u
set -f
dir=\${1-/scrub}
log=\${SCRUB_TERMINATION_LOG:-/dev/termination-log}

report() {
  printf '%s\\n' "$1"
  if [ -w "$log" ]; then
    printf '%s\\n' "$1" 2>/dev/null >"$log" || :
  fi
}

fail() {
  report "scrub failed: $2" >&2
  exit "$1"
}

entries() {
  if [ "$1" -eq 1 ]; then echo "1 entry"; else echo "$1 entries"; fi
}

# Prints how many entries are below directory $1 (names are never parsed, so
# any name counts once).
count() {
  n=$(find "$1" -xdev -mindepth 1 -exec printf '%.0s.' {} + | wc -c)
  echo $((n))
}

# The root first, before anything else happens.
case $dir in
  /*) ;;
  *) fail 2 "refusing to scrub '$dir': not an absolute path" ;;
esac
named=no
dots=no
saved_ifs=$IFS
IFS=/
for part in $dir; do
  case $part in
    '') ;;
    . | ..) dots=yes ;;
    *) named=yes ;;
  esac
done
IFS=$saved_ifs
[ "$named" = yes ] || fail 2 "refusing to scrub '$dir': it is the root directory"
[ "$dots" = no ] || fail 2 "refusing to scrub '$dir': the path has '.' or '..' components"
while :; do
  case $dir in
    */) dir=\${dir%/} ;;
    *) break ;;
  esac
done
[ ! -L "$dir" ] || fail 2 "refusing to scrub $dir: it is a symbolic link"
[ -e "$dir" ] || fail 2 "$dir does not exist"
[ -d "$dir" ] || fail 2 "$dir is not a directory"
real=$(cd -P "$dir" && pwd -P) || fail 2 "cannot enter $dir"
[ "$real" != / ] || fail 2 "refusing to scrub $dir: it resolves to the root directory"

# Does this find know -delete? The test is false for a directory, so the
# probe parses the expression and deletes nothing.
if find "$dir" -maxdepth 0 -type f -delete 2>/dev/null; then
  removed=$(find "$dir" -xdev -mindepth 1 -delete -exec printf '%.0s.' {} + | wc -c)
else
  files=$(find "$dir" -xdev -mindepth 1 ! -type d -exec rm -f -- {} + -exec printf '%.0s.' {} + | wc -c)
  dirs=$(find "$dir" -xdev -depth -mindepth 1 -type d -exec rmdir -- {} + -exec printf '%.0s.' {} + | wc -c)
  removed=$((files + dirs))
fi
removed=$((removed))

listing=$(ls -A "$dir") || fail 1 "cannot list $dir after scrubbing it"
if [ -n "$listing" ]; then
  fail 1 "$(entries "$(count "$dir")") remain in $dir"
fi
report "scrubbed $(entries "$removed") from $dir"
`;

/**
 * The container command that scrubs `dir` (default /scrub): the script run
 * by /bin/sh, with "scrub" as $0 for the shell's own messages.
 */
export function scrubCommand(dir: string = scrubMountPath): string[] {
  return ['/bin/sh', '-c', scrubScript, 'scrub', dir];
}
