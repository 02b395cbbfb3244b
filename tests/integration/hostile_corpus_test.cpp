// The hostile corpus (tests/data/hostile, made by its generate.py) through the
// real binary: every file must give its exit code and its message, with
// `validate` and with `run`, quickly, and `run` must start nothing. Then the
// paths that are not files at all: a FIFO, a directory, a device, a link, a
// file too large.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "../scratch_dir.hpp"
#include "binary_suite.hpp"
#include "subprocess.hpp"

namespace pgleak::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kCorpus = fs::path{PGLEAK_SOURCE_DIR} / "tests" / "data" / "hostile";

// Runs pgleak with its own TMPDIR, where a server it started would show.
Finished pgleak(std::vector<std::string> args, const fs::path& tmpdir) {
  args.insert(args.begin(), kBinary);
  return run_to_end(args, {"TMPDIR=" + tmpdir.string()}, 10s);  // none of these may hang
}

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator{dir}) {
    names.insert(e.path().filename().string());
  }
  return names;
}

TEST(HostileCorpus, EveryFileGivesItsExitCodeAndMessage) {
  std::ifstream in{kCorpus / "expected.json"};
  const auto cases = nlohmann::json::parse(in);
  ASSERT_GE(cases.size(), 100u);
  const ScratchDir tmpdir{0755};
  for (const auto& c : cases) {
    const auto file = (kCorpus / c["file"].get<std::string>()).string();
    const int exit = c["exit"].get<int>();
    const auto fragment = c["stderr"].get<std::string>();
    for (const char* command : {"validate", "run"}) {
      std::vector<std::string> args{command, file};
      if (std::string{command} == "run") {
        args.emplace_back("--quiet");
      }
      const auto r = pgleak(args, tmpdir.path());
      EXPECT_EQ(r.code, exit) << command << " " << file << "\n" << r.err.substr(0, 500);
      EXPECT_NE(r.err.find(fragment), std::string::npos)
          << command << " " << file << ": expected \"" << fragment << "\" in:\n"
          << r.err.substr(0, 500);
      EXPECT_EQ(r.err.find("internal error"), std::string::npos) << file;
      // What pgleak prints of a scenario never carries a raw control character.
      for (const char ch : r.err) {
        EXPECT_FALSE(static_cast<unsigned char>(ch) < 0x20 && ch != '\n') << file;
      }
    }
  }
  EXPECT_TRUE(entries(tmpdir.path()).empty()) << "an invalid scenario started a server";
}

TEST(HostileCorpus, PathsThatAreNotScenarioFilesAreRefusedWithoutBlocking) {
  ScratchDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo.json").c_str(), 0600), 0);
  fs::create_directory(dir / "dir.json");
  {
    std::ofstream big{dir / "big.json"};
    big << "{\"description\": \"" << std::string(5 * 1024 * 1024, 'x') << "\"}";
  }
  fs::create_symlink(fs::path{PGLEAK_SOURCE_DIR} / "scenarios" / "incident-after.json",
                     dir / "link.json");
  const struct {
    std::string path;
    std::string reason;
  } cases[] = {
      {dir / "fifo.json", "is a FIFO"},     {dir / "dir.json", "is a directory"},
      {"/dev/zero", "is a device"},         {dir / "big.json", "larger than 4096 KiB"},
      {dir / "link.json", "symbolic link"}, {dir / "missing.json", "cannot read the file"},
  };
  for (const auto& c : cases) {
    for (const char* command : {"validate", "run", "budget"}) {
      const auto r = pgleak({command, c.path}, dir.path());
      EXPECT_EQ(r.code, 2) << command << " " << c.path << ": " << r.err;
      EXPECT_NE(r.err.find(c.reason), std::string::npos)
          << command << " " << c.path << ": " << r.err;
    }
  }
}

}  // namespace
}  // namespace pgleak::testing
