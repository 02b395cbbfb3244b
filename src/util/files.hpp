#pragma once

#include <cstddef>
#include <string>
#include <string_view>

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

// Writes `text` to `path`: a regular file through an unpredictably named
// temporary in the same directory, fsynced and renamed into place (readers
// never see half a report); a character device or FIFO in place. Throws
// InfrastructureError with the path and the reason.
void write_output_file(const std::string& path, std::string_view text);

// Opens `path` for a file written as a run goes (a stream of lines): a
// regular file is created new under an unpredictable name in the same
// directory and renamed into place at once, so a planted link or file is
// replaced, never written through, and a killed run leaves what it wrote
// under the final name; a character device or FIFO is opened in place.
// Returns the descriptor (close-on-exec). Throws InfrastructureError.
int open_output_stream(const std::string& path);

}  // namespace pgleak::util
