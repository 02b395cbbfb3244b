#include "util/files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include "util/errors.hpp"
#include "util/text.hpp"
#include "util/unique_fd.hpp"

namespace pgleak::util {
namespace {

namespace fs = std::filesystem;

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) {
    return "is a directory";
  }
  if (S_ISLNK(mode)) {
    return "is a symbolic link (pgleak follows none: give the path it points to)";
  }
  if (S_ISFIFO(mode)) {
    return "is a FIFO, not a regular file";
  }
  if (S_ISCHR(mode) || S_ISBLK(mode)) {
    return "is a device, not a regular file";
  }
  if (S_ISSOCK(mode)) {
    return "is a socket, not a regular file";
  }
  return "is not a regular file";
}

std::stop_token& write_interrupt() {
  static std::stop_token token;
  return token;
}

fs::path parent_of(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path{"."};
}

// mkstemp in `dir`: O_CREAT | O_EXCL with a random name, never following a
// planted link. Returns the fd and fills `temp`.
int make_temp_in(const fs::path& dir, const std::string& stem, std::string& temp) {
  temp = (dir / ("." + stem + ".XXXXXX")).string();
  return ::mkostemp(temp.data(), O_CLOEXEC);
}

}  // namespace

namespace {

// A regular file opened for reading, with its stat. O_NONBLOCK: opening a
// FIFO must not wait for a writer; O_NOFOLLOW: the file itself is never a
// link we did not make. Throws UsageError with the reason alone.
UniqueFd open_regular(const std::string& path, struct stat& st) {
  UniqueFd fd{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)};
  if (fd.get() < 0) {
    if (errno == ELOOP) {
      throw UsageError(kind_of(S_IFLNK));
    }
    throw UsageError(std::string{"cannot read the file: "} + std::strerror(errno));
  }
  if (::fstat(fd.get(), &st) != 0) {
    throw UsageError(std::string{"cannot stat the file: "} + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    throw UsageError(kind_of(st.st_mode));
  }
  return fd;
}

}  // namespace

std::string read_regular_file(const std::string& path, size_t max_bytes) {
  struct stat st {};
  UniqueFd fd = open_regular(path, st);
  const auto too_large = [&] {
    return UsageError("is larger than " + std::to_string(max_bytes / 1024) +
                      " KiB, the most pgleak reads for this kind of file");
  };
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    throw too_large();
  }
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw UsageError(std::string{"cannot read the file: "} + std::strerror(errno));
    }
    if (n == 0) {
      break;
    }
    if (text.size() + static_cast<size_t>(n) > max_bytes) {
      throw too_large();  // it grew while being read
    }
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

void check_readable_file(const std::string& path) {
  struct stat st {};
  open_regular(path, st);
}

namespace {

// What `path` is as an output, from lstat alone (never following a link),
// with its parent directory made for a file. Throws UsageError.
OutputKind output_kind(const std::string& path) {
  const auto refuse = [&](const std::string& why) {
    return UsageError("cannot write " + path + ": " + why);
  };
  if (path.empty()) {
    throw UsageError("an output path is empty");
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
      return OutputKind::kStream;
    }
    if (!S_ISREG(st.st_mode)) {
      throw refuse(kind_of(st.st_mode));
    }
  } else if (errno != ENOENT) {
    throw refuse(std::strerror(errno));
  }
  const fs::path parent = parent_of(fs::path{path});
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) {
    throw refuse("cannot create its directory " + parent.string() + ": " + ec.message());
  }
  return OutputKind::kFile;
}

// A character device or FIFO opened for writing in place, blocking once
// open. O_NONBLOCK while opening, so a FIFO nobody reads fails (ENXIO)
// instead of hanging. Returns -1 with errno on failure.
// Non-blocking, and left so: opening a FIFO without a reader fails at once
// (ENXIO), and every write waits through write_fully(), bounded.
int open_in_place(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

}  // namespace

OutputKind check_output_path(const std::string& path) {
  const auto refuse = [&](const std::string& why) {
    return UsageError("cannot write " + path + ": " + why);
  };
  if (output_kind(path) == OutputKind::kStream) {
    return OutputKind::kStream;
  }
  const fs::path parent = parent_of(fs::path{path});
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    throw refuse(parent.string() + " is not a directory");
  }
  std::string probe;
  const int fd = make_temp_in(parent, "pgleak-probe", probe);
  if (fd < 0) {
    throw refuse("its directory is not writable: " + std::string{std::strerror(errno)});
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return OutputKind::kFile;
}

void interrupt_writes_on(std::stop_token token) {
  write_interrupt() = std::move(token);
}

bool write_fully(int fd, std::string_view text) {
  using Clock = std::chrono::steady_clock;
  auto stalled_at = Clock::now() + kStalledWrite;
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n > 0) {
      text.remove_prefix(static_cast<size_t>(n));
      stalled_at = Clock::now() + kStalledWrite;
      continue;
    }
    if (n < 0 && errno != EINTR && errno != EAGAIN) {
      return false;
    }
    // A reader that is slow, or gone quiet: wait for room, a tenth of a
    // second at a time, so a signal or the stall bound ends the wait.
    if (write_interrupt().stop_requested()) {
      errno = EINTR;
      return false;
    }
    if (Clock::now() >= stalled_at) {
      errno = ETIMEDOUT;
      return false;
    }
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, 100);
  }
  return true;
}

std::string write_failure(int error) {
  switch (error) {
    case EINTR:
      return "interrupted by a signal while its reader took nothing";
    case ETIMEDOUT:
      return fmt::format("its reader took nothing for {}s", kStalledWrite.count());
    default:
      return std::strerror(error);
  }
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {};
  struct stat sb {};
  const bool a_exists = ::lstat(a.c_str(), &sa) == 0;
  const bool b_exists = ::lstat(b.c_str(), &sb) == 0;
  if (a_exists && b_exists) {
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  }
  if (a_exists != b_exists) {
    return false;  // one is there and the other is not: two names
  }
  std::error_code ea;
  std::error_code eb;
  const auto ca = fs::weakly_canonical(fs::path{a}, ea);
  const auto cb = fs::weakly_canonical(fs::path{b}, eb);
  return !ea && !eb ? ca == cb : fs::path{a}.lexically_normal() == fs::path{b}.lexically_normal();
}

void check_outputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                   const std::vector<std::string>& inputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& [flag, output] = outputs[i];
    if (output.empty()) {
      continue;
    }
    for (size_t j = 0; j < i; ++j) {
      if (!outputs[j].second.empty() && same_file(output, outputs[j].second)) {
        throw UsageError(fmt::format("{} and {} are the same file: {}", flag, outputs[j].first,
                                     printable(output)));
      }
    }
    for (const auto& input : inputs) {
      if (!input.empty() && same_file(output, input)) {
        throw UsageError(
            fmt::format("{} would overwrite its own input {}", flag, printable(input)));
      }
    }
    check_output_path(output);
  }
}

namespace {

InfrastructureError cannot_write(const std::string& path, const std::string& why) {
  return InfrastructureError("cannot write " + path + ": " + why);
}

// Where an output's bytes go: a character device or FIFO opened in place
// (`temp` empty), or a new file under an unpredictable name in the same
// directory (`temp`, mode 0644) for the caller to rename into place. The
// path was checked before the run (check_output_path); here it is only
// classified again, since it may have changed meanwhile. Throws
// InfrastructureError.
UniqueFd open_output(const std::string& path, std::string& temp) {
  OutputKind kind = OutputKind::kFile;
  try {
    kind = output_kind(path);
  } catch (const UsageError& e) {
    throw InfrastructureError(e.what());
  }
  temp.clear();
  if (kind == OutputKind::kStream) {
    UniqueFd fd{open_in_place(path)};
    if (fd.get() < 0) {
      throw cannot_write(path, errno == ENXIO ? "a FIFO with no reader" : std::strerror(errno));
    }
    return fd;
  }
  const fs::path target{path};
  UniqueFd fd{make_temp_in(parent_of(target), target.filename().string(), temp)};
  if (fd.get() < 0 || ::fchmod(fd.get(), 0644) != 0) {
    const int why = errno;
    if (!temp.empty() && fd.get() >= 0) {
      ::unlink(temp.c_str());
    }
    throw cannot_write(path, std::strerror(why));
  }
  return fd;
}

// Renames the temporary into place; on failure removes it and throws.
void rename_into_place(const std::string& temp, const std::string& path, bool ok, int saved) {
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    const int why = ok ? errno : saved;
    ::unlink(temp.c_str());
    throw cannot_write(path, std::strerror(why));
  }
}

}  // namespace

void write_output_file(const std::string& path, std::string_view text) {
  std::string temp;
  UniqueFd fd = open_output(path, temp);
  if (temp.empty()) {
    if (!write_fully(fd.get(), text)) {
      throw cannot_write(path, write_failure(errno));
    }
    return;
  }
  // Readers never see half a report: written, synced, then renamed.
  const bool ok =
      write_fully(fd.get(), text) && ::fsync(fd.get()) == 0 && ::close(fd.release()) == 0;
  rename_into_place(temp, path, ok, errno);
}

int open_output_stream(const std::string& path) {
  std::string temp;
  UniqueFd fd = open_output(path, temp);
  if (!temp.empty()) {
    // Renamed at once: a killed run leaves what it wrote under the final name.
    rename_into_place(temp, path, true, 0);
  }
  return fd.release();
}

}  // namespace pgleak::util
