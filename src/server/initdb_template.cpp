#include "server/initdb_template.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "util/unique_fd.hpp"

namespace pgleak::server {
namespace fs = std::filesystem;

namespace {

// FNV-1a, 64 bits: stable across builds (std::hash is not).
uint64_t fnv1a(std::string_view text, uint64_t h = 14695981039346656037ULL) {
  for (const unsigned char c : text) {
    h = (h ^ c) * 1099511628211ULL;
  }
  return h;
}

std::string identity_of(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return file.string() + ":missing";
  }
  return fmt::format("{}:{}:{}:{}.{}", file.string(), st.st_ino, st.st_size, st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec);
}

// Why `dir` (already open) may not hold templates, or empty when it may.
std::string untrusted_dir(int dir_fd, const fs::path& dir) {
  struct stat st {};
  if (::fstat(dir_fd, &st) != 0) {
    return fmt::format("cannot stat {}: {}", dir.string(), std::strerror(errno));
  }
  if (st.st_uid != ::geteuid()) {
    return fmt::format("{} belongs to uid {}, not to pgleak's user", dir.string(), st.st_uid);
  }
  if ((st.st_mode & 022) != 0) {
    return fmt::format("{} is writable by others (mode {:o})", dir.string(), st.st_mode & 0777);
  }
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path{"."};
  struct stat up {};
  if (::lstat(parent.c_str(), &up) != 0 || !S_ISDIR(up.st_mode)) {
    return fmt::format("{} is not a plain directory", parent.string());
  }
  if ((up.st_mode & S_IWOTH) != 0 && (up.st_mode & S_ISVTX) == 0) {
    return fmt::format("{} is writable by everyone without the sticky bit", parent.string());
  }
  return {};
}

// A finished template owned by `owner`, mode 0700, or why not (empty: it is
// missing altogether, and `missing` is set).
std::string check_template(int cache_fd, const std::string& name, uid_t owner, bool& missing) {
  missing = false;
  const int fd = ::openat(cache_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    missing = errno == ENOENT;
    return missing ? "" : fmt::format("{}: {}", name, std::strerror(errno));
  }
  util::UniqueFd dir{fd};
  struct stat st {};
  if (::fstat(dir.get(), &st) != 0 || st.st_uid != owner || (st.st_mode & 077) != 0) {
    return fmt::format("{} is not owned by uid {} with mode 0700", name, owner);
  }
  struct stat version {};
  if (::fstatat(dir.get(), "data/PG_VERSION", &version, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISREG(version.st_mode) || version.st_uid != owner) {
    return fmt::format("{} holds no finished cluster", name);
  }
  return {};
}

// Removes build directories that a killed run left behind (older than ten
// minutes: a live build takes about half a second).
void remove_stale_builds(const fs::path& cache) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it{cache, ec}, end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    struct stat st {};
    if (name.rfind(".building-", 0) != 0 || ::lstat(it->path().c_str(), &st) != 0 ||
        !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
      continue;
    }
    std::error_code age_ec;
    const auto written = fs::last_write_time(it->path(), age_ec);
    if (!age_ec && now - written > std::chrono::minutes{10}) {
      fs::remove_all(it->path(), age_ec);  // never follows a link
    }
  }
}

}  // namespace

fs::path initdb_cache_dir() {
  if (const char* dir = std::getenv("PGLEAK_INITDB_CACHE"); dir != nullptr && *dir != '\0') {
    return std::string_view{dir} == "off" ? fs::path{} : fs::path{dir};
  }
  if (::geteuid() == 0) {
    return "/var/cache/pgleak";
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
    return fs::path{xdg} / "pgleak";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
    return fs::path{home} / ".cache" / "pgleak";
  }
  return {};
}

namespace {

// The cache directory, made if missing (traversable by the server's account:
// root runs it as postgres) and opened without following a symlink; -1,
// with `note` saying why, when it cannot be used.
util::UniqueFd open_cache_dir(const fs::path& cache, const std::optional<RunAs>& as,
                              std::string& note) {
  std::error_code ec;
  if (!fs::exists(cache, ec)) {
    fs::create_directories(cache.parent_path(), ec);
    if (::mkdir(cache.c_str(), as ? 0755 : 0700) != 0 && errno != EEXIST) {
      note = fmt::format("cannot create {}: {}", cache.string(), std::strerror(errno));
      return util::UniqueFd{-1};
    }
  }
  util::UniqueFd cache_dir{::open(cache.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (cache_dir.get() < 0) {
    note = fmt::format("cannot open {} as a directory (a symlink is refused): {}", cache.string(),
                       std::strerror(errno));
    return util::UniqueFd{-1};
  }
  if (note = untrusted_dir(cache_dir.get(), cache); !note.empty()) {
    return util::UniqueFd{-1};
  }
  return cache_dir;
}

// A template's name: its binaries (by identity), initdb's options and its
// owner, hashed; a change of any makes another template.
std::string template_name(const fs::path& bin, const std::vector<std::string>& initdb_options,
                          uid_t owner) {
  std::string key = identity_of(bin / "initdb") + "|" + identity_of(bin / "postgres");
  for (const auto& option : initdb_options) {
    key += "|" + option;
  }
  key += fmt::format("|uid {}", owner);
  return fmt::format("pg-{:016x}", fnv1a(key));
}

}  // namespace

std::optional<fs::path> initdb_template(const std::string& bin_dir,
                                        const std::vector<std::string>& initdb_options,
                                        const std::optional<RunAs>& as, const std::string& log_path,
                                        std::string& note) {
  const fs::path cache = initdb_cache_dir();
  if (cache.empty()) {
    note = "the initdb cache is off";
    return std::nullopt;
  }
  const auto cache_dir = open_cache_dir(cache, as, note);
  if (cache_dir.get() < 0) {
    return std::nullopt;
  }

  const fs::path bin{bin_dir};
  const uid_t owner = as ? as->uid : ::geteuid();
  const std::string name = template_name(bin, initdb_options, owner);

  bool missing = false;
  if (note = check_template(cache_dir.get(), name, owner, missing); !note.empty()) {
    return std::nullopt;  // something else sits there: never used, never touched
  }
  if (!missing) {
    return cache / name / "data";
  }

  remove_stale_builds(cache);
  std::string build = (cache / ".building-XXXXXX").string();
  if (::mkdtemp(build.data()) == nullptr) {
    note = fmt::format("cannot create a build directory in {}: {}", cache.string(),
                       std::strerror(errno));
    return std::nullopt;
  }
  const auto give_up = [&](std::string why) {
    std::error_code ignored;
    fs::remove_all(build, ignored);
    note = std::move(why);
    return std::nullopt;
  };
  if (as && ::lchown(build.c_str(), as->uid, as->gid) != 0) {
    return give_up(fmt::format("cannot give {} to {}: {}", build, as->name, std::strerror(errno)));
  }
  std::vector<std::string> argv{(bin / "initdb").string(), "-D", build + "/data"};
  argv.insert(argv.end(), initdb_options.begin(), initdb_options.end());
  const int rc = run_program(argv, log_path, as, build);
  if (rc != 0) {
    return give_up(fmt::format("initdb for the template failed (exit {})", rc));
  }
  if (::rename(build.c_str(), (cache / name).c_str()) != 0) {
    // Another run built the same template meanwhile: use theirs after the checks.
    const int why = errno;
    std::error_code ignored;
    fs::remove_all(build, ignored);
    if (why != ENOTEMPTY && why != EEXIST) {
      note = fmt::format("cannot rename the template into place: {}", std::strerror(why));
      return std::nullopt;
    }
    if (note = check_template(cache_dir.get(), name, owner, missing); !note.empty() || missing) {
      return std::nullopt;
    }
  }
  return cache / name / "data";
}

}  // namespace pgleak::server
