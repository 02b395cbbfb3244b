#pragma once

#include <chrono>
#include <cstddef>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Reading inputs and writing outputs as a root-run CI tool must: no symlink
// followed, no device or FIFO read as a file, no device or FIFO replaced by a
// regular file, no predictable temporary name, and every check made before a
// run starts rather than after it.
namespace pgleak::util {

// Reads a whole regular file of at most `max_bytes`. The file itself must not
// be a symbolic link, a directory, a FIFO or a device: such paths are refused
// without blocking (a FIFO with no writer, /dev/zero). Throws UsageError whose
// message is the reason alone ("is a directory"); the caller names the file.
std::string read_regular_file(const std::string& path, size_t max_bytes);

// Checks that `path` is a regular file that can be read (not a link, FIFO,
// device or directory), without reading it. Throws UsageError with the
// reason alone; the caller names the file.
void check_readable_file(const std::string& path);

// What writing to a path will do.
enum class OutputKind {
  kFile,    // a regular file, new or replaced atomically by rename
  kStream,  // a character device or FIFO, written in place (/dev/null, /dev/stdout)
};

// Checks, before anything runs, that `path` can be written: creates missing
// parent directories, refuses a directory, a symlink, a block device or a
// socket, and proves the parent directory writable by creating and removing
// a file in it. Throws UsageError with the path and the reason.
OutputKind check_output_path(const std::string& path);

// Whether two paths name one file, however spelled: when both exist, by
// device and inode (a symbolic link as the last component is itself, so
// /dev/stdout and /dev/stderr are two); otherwise by canonical path.
bool same_file(const std::string& a, const std::string& b);

// Checks a command's outputs before anything runs: no two may be one file
// (same_file), none may be one of `inputs`, and each must be writable
// (check_output_path). `outputs` pairs each path with the flag that named it,
// for the message; an empty path is no output. Throws UsageError.
void check_outputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                   const std::vector<std::string>& inputs = {});

// Writes `text` to `path`: a regular file through an unpredictably named
// temporary in the same directory, fsynced and renamed into place (readers
// never see half a report); a character device or FIFO in place. Throws
// InfrastructureError with the path and the reason.
void write_output_file(const std::string& path, std::string_view text);

// Outputs written in place (a character device, a FIFO) are opened
// non-blocking, and a write waits for a slow reader, but not for ever: a stop
// requested on the token given here (pgleak's signal watcher: SIGINT, SIGTERM,
// SIGHUP) ends the wait, and so does a reader that takes nothing for
// kStalledWrite. Set once, before any thread writes.
void interrupt_writes_on(std::stop_token token);
inline constexpr std::chrono::seconds kStalledWrite{60};

// Writes all of `text` to `fd`, waiting on a non-blocking one as above.
// False with errno set: EINTR for a stop, ETIMEDOUT for a stalled reader.
bool write_fully(int fd, std::string_view text);
// write_fully()'s errno in words: a stop, a stalled reader, or strerror.
std::string write_failure(int error);

// Opens `path` for a file written as a run goes (a stream of lines): a
// regular file is created new under an unpredictable name in the same
// directory and renamed into place at once, so a planted link or file is
// replaced, never written through, and a killed run leaves what it wrote
// under the final name; a character device or FIFO is opened in place.
// Returns the descriptor (close-on-exec). Throws InfrastructureError.
int open_output_stream(const std::string& path);

}  // namespace pgleak::util
